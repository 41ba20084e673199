import { expect } from 'chai';
import type { ConsentGrantMessage } from '../../../chaincode/src/lib/eip712';

/** The consortium the chaincode unit tests run in: two hospitals, an insurer, a sponsor. */
export const HOSPITAL = 'HospitalMSP';
export const HOSPITAL2 = 'Hospital2MSP';
export const INSURER = 'InsurerMSP';
export const SPONSOR = 'SponsorMSP';

export const CONSORTIUM = JSON.stringify({
  organisations: [
    { mspId: HOSPITAL, type: 'hospital' },
    { mspId: HOSPITAL2, type: 'hospital' },
    { mspId: INSURER, type: 'insurer' },
    { mspId: SPONSOR, type: 'sponsor' },
  ],
});

/** Awaits a chaincode call that must fail with `CODE: sentence` (optionally containing `fragment`). */
export async function expectCode(promise: Promise<unknown>, code: string, fragment?: string): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    expect((err as Error).message).to.match(new RegExp(`^${code}: `));
    if (fragment) expect((err as Error).message).to.include(fragment);
    return err as Error;
  }
  throw new Error(`expected ${code}, but the call succeeded`);
}

export const DAY = 86_400;
/** LOINC 18842-5, discharge summary: the category the consent tests grant. */
export const DISCHARGE = 'loinc:18842-5';

/**
 * The grant the consent tests start from — claims access for the insurer to the patient's
 * discharge summaries for 30 days from `now` — with `overrides` applied.
 */
export function claimsGrantMessage(
  base: { patientRef: string; now: number; nonce: string },
  overrides: Partial<ConsentGrantMessage> = {},
): ConsentGrantMessage {
  return {
    hospital: HOSPITAL,
    patientRef: base.patientRef,
    grantee: INSURER,
    purpose: 'claims',
    categories: [DISCHARGE],
    recordIds: [],
    validFrom: base.now,
    validUntil: base.now + 30 * DAY,
    nonce: base.nonce,
    ...overrides,
  };
}
