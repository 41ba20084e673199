import { IdentityContract } from '../../chaincode/src';
import type { FakeLedger } from '../unit/chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, INSURER } from '../unit/chaincode/fixtures';
import { startOrgGateway, type OrgGateway } from '../unit/support/org-gateways';

/**
 * The consortium's display names the e2e gateways serve (GET /v1/organisations), as in
 * network/consortium.json: the pages show these, never the MSP ID alone.
 */
export const ORGANISATIONS = [
  { mspId: HOSPITAL, name: 'Hospital', type: 'hospital' as const, displayName: { ko: '한빛대학교병원', en: 'Hanbit University Hospital' } },
  { mspId: INSURER, name: 'Insurer', type: 'insurer' as const, displayName: { ko: '누리손해보험', en: 'Nuri Insurance' } },
];

/**
 * A hospital's and an insurer's gateways for the Patient page's tests, serving {@link ORGANISATIONS},
 * on `ledger` with the consortium written. The page signs with the browser's clock, as a
 * patient's phone would; the stub's clock is brought to the same time first (a real gateway's
 * transaction time is its wall clock too).
 */
export async function startPatientPageGateways(ledger: FakeLedger, dir: string): Promise<{ hospital: OrgGateway; insurer: OrgGateway }> {
  const wall = Math.floor(Date.now() / 1000);
  if (wall > ledger.now) ledger.advance(wall - ledger.now);
  await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
  const limits = { patientPerSecond: 1000, patientBurst: 1000 };
  const hospital = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir, limits, organisations: ORGANISATIONS });
  const insurer = await startOrgGateway({ ledger, mspId: INSURER, type: 'insurer', dir, limits, organisations: ORGANISATIONS });
  return { hospital, insurer };
}
