import { createHash } from 'node:crypto';
import type { ConsentGrant } from '../../../chaincode/src/lib/consent-model';
import type { RecordAnchor } from '../../../chaincode/src/lib/record-model';

/** The grants and record versions the FHIR export tests map (export.test.ts, hl7-validation.test.ts). */
export const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
export const HOSPITAL = 'HospitalMSP';
export const INSURER = 'InsurerMSP';
export const SPONSOR = 'SponsorMSP';
export const T0 = 1_767_225_600; // 2026-01-01T00:00:00Z
export const DAY = 86_400;
export const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();
export const patientRef = sha('patient ref');

/** An active claims grant of the insurer for 30 days; its id depends on the overrides. */
export function grant(overrides: Partial<ConsentGrant> = {}): ConsentGrant {
  return {
    grantId: `0x${sha(`grant ${JSON.stringify(overrides)}`)}`,
    hospital: HOSPITAL,
    patientRef,
    patient: '0x1234567890123456789012345678901234567890',
    grantee: INSURER,
    purpose: 'claims',
    categories: ['loinc:18842-5'],
    recordIds: [],
    validFrom: T0,
    validUntil: T0 + 30 * DAY,
    nonce: `0x${sha('nonce')}`,
    signature: `0x${'ab'.repeat(65)}`,
    status: 'active',
    grantedAt: iso(T0 + 5),
    txId: 'tx000007',
    submittedBy: HOSPITAL,
    ...overrides,
  };
}

/** The grant revoked by the insurer's gateway two days in. */
export const revoked = (g: ConsentGrant): ConsentGrant => ({
  ...g,
  status: 'revoked',
  revocation: { at: iso(T0 + 2 * DAY), txId: 'tx000042', nonce: `0x${sha('revoke nonce')}`, signature: `0x${'cd'.repeat(65)}`, submittedBy: INSURER },
});

/** A discharge summary: version 1 (superseded), its amendment v2, and v2 retracted. */
export const v1: RecordAnchor = {
  docHash: sha('discharge v1'),
  recordId: 'adm-2026-0001',
  version: 1,
  issuer: HOSPITAL,
  patientRef,
  category: 'loinc:18842-5',
  status: 'superseded',
  supersededBy: sha('discharge v2'),
  anchoredAt: iso(T0 + 10),
  txId: 'tx000010',
};
const { supersededBy: _superseded, ...v1Fields } = v1;
export const v2: RecordAnchor = { ...v1Fields, docHash: sha('discharge v2'), version: 2, supersedes: v1.docHash, status: 'active', anchoredAt: iso(T0 + 20), txId: 'tx000020' };
export const v2Retracted: RecordAnchor = { ...v2, status: 'retracted', retraction: { reason: 'wrong-patient', at: iso(T0 + 30), txId: 'tx000030' } };
