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
