import { expect } from 'chai';

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
