/**
 * The records bench:anchor sends (both on the real network and in process): unique per run, so
 * that a real ledger never sees the same record twice, spread over a fixed set of patients.
 */
import { createHash } from 'node:crypto';
import type { NewRecordRequest } from '../../../gateway/src/records/service';
import type { LoadRequest } from './load';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** `count` new records of run `run`, tagged `tag`, belonging to `patients` patients in turn. */
export function anchorRecords(run: string, tag: string, count: number, patients: number): NewRecordRequest[] {
  return Array.from({ length: count }, (_, i) => ({
    recordId: `bench-${run}-${tag}-${i}`,
    docHash: sha(`${run}/${tag}/${i}`),
    patientId: `bench-patient-${i % patients}`,
    category: 'loinc:18842-5',
  }));
}

/** One POST /v1/records (JSON) per record. */
export const singleAnchorRequests = (records: NewRecordRequest[], headers?: Record<string, string>): LoadRequest[] =>
  records.map((r) => ({ method: 'POST', path: '/v1/records', json: JSON.stringify(r), ...(headers ? { headers } : {}) }));

/** One POST /v1/records/batch per `batchSize` records. */
export function batchAnchorRequests(records: NewRecordRequest[], batchSize: number, headers?: Record<string, string>): LoadRequest[] {
  return Array.from({ length: Math.ceil(records.length / batchSize) }, (_, b) => ({
    method: 'POST',
    path: '/v1/records/batch',
    json: JSON.stringify({ records: records.slice(b * batchSize, (b + 1) * batchSize) }),
    ...(headers ? { headers } : {}),
  }));
}
