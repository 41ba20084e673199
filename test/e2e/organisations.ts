import { HOSPITAL, INSURER } from '../unit/chaincode/fixtures';

/**
 * The consortium's display names the e2e gateways serve (GET /v1/organisations), as in
 * network/consortium.json: the pages show these, never the MSP ID alone.
 */
export const ORGANISATIONS = [
  { mspId: HOSPITAL, name: 'Hospital', type: 'hospital' as const, displayName: { ko: '한빛대학교병원', en: 'Hanbit University Hospital' } },
  { mspId: INSURER, name: 'Insurer', type: 'insurer' as const, displayName: { ko: '누리손해보험', en: 'Nuri Insurance' } },
];
