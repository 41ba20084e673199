import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Wallet, id } from 'ethers';
import { CONSENT_GRANT_TYPES, CONSENT_REVOKE_TYPES } from '../../../chaincode/src/lib/eip712';
import { challengeToSign, consentDomainOf, grantMessage, patientAuthorization, registrationDomain, revokeMessage, type PatientRegistration } from '../../../gateway/src/consent/patient-client';
import { channelHeight } from '../../../network/src/channel';
import { ordererFlags, peerAsAdmin, retry, runTool } from '../../../network/src/fabric-cli';
import {
  ALL_IN_ONE,
  ASCII_CANARIES,
  CANARIES,
  CANARY_NAMES,
  DETECTABLE,
  ENCODINGS,
  addResults,
  documentText,
  plantedForms,
  scan,
  scanBytes,
  type CanaryName,
  type ScanResult,
} from '../../support/canaries';
import { stopTestNetwork, testNetwork, type TestNetwork } from './test-network';

/**
 * Issue 13, "No PHI on the ledger, checked on the real blocks". The canaries of the unit-level
 * canary test (names, resident registration numbers, phone numbers, e-mail, dates of birth, free
 * text) are planted over HTTP through every input path of the running consortium: anchors by
 * upload and by JSON, batches, amendments, salted commitments, retraction, patient registration
 * requests and registrations, consent grants and revocations signed with the patient's key,
 * consent-checked access, research release preview and release, erasure, verifications and
 * receipts. Then every block of the channel, config block 0 included, is fetched with Fabric's
 * own `peer channel fetch` as an organisation's admin and decoded with `configtxlator
 * proto_decode`, and the raw protobuf bytes, the decoded JSON and every base64 field of that JSON
 * (decoded, recursively) are scanned for each canary in every encoding the unit test uses.
 * Expected: 0 hits. Two positive controls make the 0 meaningful: a non-PHI marker written through
 * the same gateway is found in the blocks, and each canary inserted into a real block is found.
 */

// ───────────────────────────── HTTP ─────────────────────────────

interface Endpoint {
  url: string;
  key?: string;
}

interface Answer {
  status: number;
  body: any;
  location: string | null;
}

let headerTurn = 0;
/** Identifier-looking request ids and user agents on every request: headers are an input path too. */
function canaryHeaders(): Record<string, string> {
  return {
    'x-request-id': ASCII_CANARIES[headerTurn++ % ASCII_CANARIES.length],
    'user-agent': `EMR-bridge/1.0 (${ALL_IN_ONE.replace(/[^\x20-\x7e]/g, '')})`,
  };
}

async function call(gw: Endpoint, method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const init: RequestInit = { method, headers: { ...canaryHeaders(), ...(gw.key ? { authorization: `Bearer ${gw.key}` } : {}), ...headers } };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const res = await fetch(gw.url + p, init);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: kept as text for the assertion message.
  }
  return { status: res.status, location: res.headers.get('location'), body: parsed };
}

/**
 * A write through the gateway's journal, waited for: the final answer (201/200) or the refusal.
 * When the wait runs out, the Location is polled; what the first answer carried beside the
 * request's state (an anchor's commitment and salt) is kept.
 */
async function write(gw: Endpoint, method: string, p: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const first = await call(gw, method, p, body, { prefer: 'wait=30', ...headers });
  if (first.status !== 202 || !first.location) return first;
  const extra = { ...(first.body.commitment ? { commitment: first.body.commitment } : {}), ...(first.body.salt ? { salt: first.body.salt } : {}), ...(first.body.salts ? { salts: first.body.salts } : {}) };
  for (let i = 0; i < 480; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const polled = await call(gw, 'GET', new URL(first.location, gw.url).pathname);
    if (polled.body.state === 'committed') {
      const result = polled.body.result ?? {};
      const created = result.created === false || result.anchored === 0 ? 200 : 201;
      return { status: created, body: { ...result, ...extra, blockNumber: polled.body.blockNumber }, location: null };
    }
    if (polled.body.state === 'rejected') return { status: 409, body: { error: { code: polled.body.code, message: polled.body.message } }, location: null };
  }
  return first;
}

/** Verification until the verdict is the expected one (the Insurer's index follows the ledger's events). */
async function verifyUntil(gw: Endpoint, body: unknown, expected: string): Promise<any> {
  let last: Answer | undefined;
  for (let i = 0; i < 480; i++) {
    last = await call(gw, 'POST', '/v1/verifications', body);
    if (last.status === 200 && last.body.verdict === expected) return last.body;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`verification never became ${expected}: ${JSON.stringify(last?.body)}`);
}

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const json = (a: Answer): string => JSON.stringify(a.body).slice(0, 1000);

// ───────────────────────────── blocks ─────────────────────────────

/** One block of the channel as Fabric's tools give it. */
interface FetchedBlock {
  number: number;
  raw: Buffer;
  /** `configtxlator proto_decode --type common.Block` output. */
  decoded: string;
}

/** A string field of the decoded block (its text), or a base64 field decoded (its bytes). */
interface Field {
  path: string;
  bytes: Buffer;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The UTF-8 text of `bytes`, or undefined when they are not valid UTF-8. */
function utf8(bytes: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Every string field of a decoded block (`text`), and every field that is base64 decoded to
 * its bytes (`base64`): configtxlator leaves the chaincode's arguments, read-write sets, events
 * and responses as base64 bytes. Decoded bytes that are JSON or base64 text again are opened
 * too (a few levels deep), so that nothing the chaincode wrote is scanned only encoded.
 */
function fieldsOf(value: unknown, at: string, depth: number, out: { text: Field[]; base64: Field[] }): void {
  if (typeof value === 'string') {
    out.text.push({ path: at, bytes: Buffer.from(value, 'utf8') });
    if (depth >= 4 || value.length < 4 || !BASE64.test(value)) return;
    const bytes = Buffer.from(value, 'base64');
    out.base64.push({ path: `${at} (base64)`, bytes });
    const text = utf8(bytes);
    if (text === undefined) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (parsed !== null && typeof parsed === 'object') {
      const inner = { text: [] as Field[], base64: [] as Field[] };
      fieldsOf(parsed, `${at} (base64 → JSON)`, depth + 1, inner);
      out.base64.push(...inner.text, ...inner.base64);
    } else if (BASE64.test(text.trim())) {
      const inner = { text: [] as Field[], base64: [] as Field[] };
      fieldsOf(text.trim(), `${at} (base64)`, depth + 1, inner);
      out.base64.push(...inner.base64);
    }
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => fieldsOf(v, `${at}[${i}]`, depth, out));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) fieldsOf(v, at ? `${at}.${k}` : k, depth, out);
  }
}

/** Fields of one decoded block. */
function blockFields(decoded: string): { text: Field[]; base64: Field[] } {
  const out = { text: [] as Field[], base64: [] as Field[] };
  fieldsOf(JSON.parse(decoded), '', 0, out);
  return out;
}

/** Joined with NUL, which no needle holds: one buffer per block, no match across two fields. */
const joined = (fields: Field[]): Buffer => Buffer.concat(fields.flatMap((f) => [f.bytes, Buffer.alloc(1)]));

/** The three views of a block that are scanned. */
const VIEWS = ['raw protobuf', 'decoded JSON', 'decoded base64 fields'] as const;
type View = (typeof VIEWS)[number];

function scanBlock<K extends string>(block: FetchedBlock, canaries: Readonly<Record<K, string>>): Record<View, ScanResult<K>> {
  const fields = blockFields(block.decoded);
  return {
    'raw protobuf': scanBytes([block.raw], canaries),
    'decoded JSON': scan([block.decoded], canaries),
    'decoded base64 fields': scanBytes([joined(fields.base64)], canaries),
  };
}

/** The transaction of a field path (`data.data[i]…`): its id and chaincode function, as the decoded block names them. */
function transactionOf(decoded: any, fieldPath: string): string {
  const m = /^data\.data\[(\d+)\]/.exec(fieldPath);
  if (!m) return 'block header/metadata';
  const envelope = decoded.data.data[Number(m[1])];
  const header = envelope?.payload?.header?.channel_header ?? {};
  const spec = envelope?.payload?.data?.actions?.[0]?.payload?.chaincode_proposal_payload?.input?.chaincode_spec;
  const fn = spec?.input?.args?.[0] ? Buffer.from(spec.input.args[0], 'base64').toString('utf8') : header.type;
  return `tx ${String(header.tx_id || '-').slice(0, 16)}… ${spec?.chaincode_id?.name ?? ''} ${fn}`.replace(/\s+/g, ' ');
}

/** Where in a block each canary is: field path, transaction and encoding. */
function locate<K extends string>(block: FetchedBlock, canaries: Readonly<Record<K, string>>): string[] {
  const decoded = JSON.parse(block.decoded);
  const fields = blockFields(block.decoded);
  const out: string[] = [];
  for (const field of [...fields.text, ...fields.base64]) {
    const r = scanBytes([field.bytes], canaries);
    if (r.total === 0) continue;
    const which = (Object.keys(r.byCanary) as K[]).filter((k) => r.byCanary[k] > 0);
    const how = ENCODINGS.filter((e) => r.byEncoding[e] > 0);
    out.push(`${transactionOf(decoded, field.path)} · ${field.path}: ${which.join(', ')} as ${how.join(', ')}`);
  }
  return out;
}

/** A table of hits by view and encoding. */
function table(rows: [string, ScanResult<string>][]): string {
  const header = ['view', ...ENCODINGS, 'total'];
  const cells = rows.map(([name, r]) => [name, ...ENCODINGS.map((e) => String(r.byEncoding[e])), String(r.total)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join(' | ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-+-'), ...cells.map(line)].map((l) => `    ${l}`).join('\n');
}

const emptyResult = <K extends string>(canaries: Readonly<Record<K, string>>): ScanResult<K> => scanBytes([], canaries);

// ───────────────────────────── the test ─────────────────────────────

describe('no PHI on the ledger (issue 13): canaries planted through every input path, every real block scanned', function () {
  this.timeout(1_800_000);
  let net: TestNetwork;
  const RUN = randomBytes(3).toString('hex');
  const CATEGORY = 'loinc:18842-5';
  const TRIAL = `research:PHI-SCAN-${RUN}`;
  const HOSPITAL = 'HospitalMSP';
  const rid = (s: string) => `phi-${RUN}-${s}`;

  /** The non-PHI positive control: a record id and a document that is exactly this text, anchored plain (its docHash is its SHA-256). */
  const MARKER = `phi-scan-marker-${RUN}`;
  /** Its patient id, never to reach the ledger (only its HMAC patientRef does). */
  const MARKER_PATIENT = `phi-scan-marker-patient-${RUN}`;

  /** Blocks committed during each step: [from, to). */
  const steps: { name: string; from: number; to: number }[] = [];
  let blocksDir: string;
  const blocks: FetchedBlock[] = [];

  const hospital = (role: string): Endpoint => net.gateway('Hospital', role);
  const insurer = (role = 'claims-officer'): Endpoint => net.gateway('Insurer', role);
  const sponsor = (role = 'research-officer'): Endpoint => net.gateway('Sponsor', role);
  /** The patient's side: a gateway without an API key. */
  const asPatient = (gw: Endpoint): Endpoint => ({ url: gw.url });

  /** The channel's height: the highest of the peers' (a write has committed at least at its gateway's peer). */
  async function height(): Promise<number> {
    const heights = await Promise.all(net.network.peers.map((p) => retry(() => channelHeight(net.network, p), { what: `${p.name}: height`, progress: net.progress, withinMs: 60_000 })));
    return Math.max(...heights);
  }

  /** Runs one input path and remembers which blocks it committed. */
  async function step(name: string, body: () => Promise<void>): Promise<void> {
    const from = await height();
    try {
      await body();
    } finally {
      steps.push({ name, from, to: await height() });
    }
  }

  const stepOf = (block: number): string => steps.find((s) => block >= s.from && block < s.to)?.name ?? (block < (steps[0]?.from ?? 0) ? 'network bring-up (config, lifecycle, consortium, probes)' : 'between steps');

  // Patients: one key each (the Patient page derives one per hospital; one hospital here).
  interface Patient {
    patientId: string;
    recordId: string;
    wallet: Wallet;
    reg?: PatientRegistration;
  }
  const claimsPatient: Patient = { patientId: ALL_IN_ONE, recordId: rid('up-1'), wallet: new Wallet(id(`phi-scan claims patient ${RUN}`)) };
  const RELEASE_CANARIES: CanaryName[] = ['name (Hangul)', 'name (romanised)', 'RRN', 'phone', 'e-mail'];
  const researchPatients: Patient[] = RELEASE_CANARIES.map((name) => ({
    patientId: CANARIES[name],
    recordId: rid(`j-${CANARY_NAMES.indexOf(name)}`),
    wallet: new Wallet(id(`phi-scan research patient ${name} ${RUN}`)),
  }));
  const v1 = Buffer.from(`${documentText(1)}\nrun ${RUN}`, 'utf8');
  const v2 = Buffer.from(`${documentText(2)}\nrun ${RUN}`, 'utf8');
  const labResult = Buffer.from(`LAB RESULT ${CANARIES['name (romanised)']} ${CANARIES.RRN} HbA1c 6.1% run ${RUN}`, 'utf8');
  let labSalt: string;

  before(async () => {
    net = await testNetwork();
    blocksDir = mkdtempSync(path.join(os.tmpdir(), 'medprov-blocks-'));
  });

  after(async () => {
    if (blocksDir && !process.env.MEDPROV_TEST_KEEP_STATE) rmSync(blocksDir, { recursive: true, force: true });
    await stopTestNetwork();
  });

  /** Registers a patient's key at the Hospital: the registration request (patientId) and the signed registration. */
  async function register(p: Patient): Promise<void> {
    const request = await call(hospital('records-officer'), 'POST', '/v1/patients/registration-requests', { patientId: p.patientId });
    expect(request.status, json(request)).to.equal(201);
    const domain = consentDomainOf(request.body.domain);
    if (!domain) throw new Error(`not a medprov consent domain: ${json(request)}`);
    const signature = await p.wallet.signTypedData(request.body.domain, request.body.types, request.body.message);
    const registered = await call(hospital('records-officer'), 'POST', '/v1/patients', { message: request.body.message, patient: p.wallet.address, signature });
    expect(registered.status, json(registered)).to.be.oneOf([200, 201]);
    p.reg = { hospital: HOSPITAL, patientRef: request.body.message.patientRef, salt: domain.salt };
  }

  /** A grant the patient signs (patient-client.ts, as the Patient page and CLI do), sent without an API key. */
  async function grant(p: Patient, gw: Endpoint, grantee: string, purpose: string, recordIds: string[]): Promise<string> {
    const message = grantMessage(p.reg!, { grantee, purpose, categories: [CATEGORY], recordIds, validUntil: Math.floor(Date.now() / 1000) + 30 * 86_400 }, Math.floor(Date.now() / 1000));
    const signature = await p.wallet.signTypedData(registrationDomain(p.reg!), CONSENT_GRANT_TYPES, message);
    const granted = await call(asPatient(gw), 'POST', '/v1/consents', { message, signature });
    expect(granted.status, json(granted)).to.equal(201);
    return granted.body.grant.grantId as string;
  }

  it('positive control, planted: a non-PHI marker anchored through the Hospital gateway (record id, and a document that is exactly the marker)', async () => {
    await step('positive control: marker anchor (JSON)', async () => {
      const anchored = await write(hospital('records-officer'), 'POST', '/v1/records', { recordId: MARKER, docHash: sha256(MARKER), patientId: MARKER_PATIENT, category: CATEGORY });
      expect(anchored.status, json(anchored)).to.equal(201);
    });
  });

  it('records: anchors by upload (canary document, filename, patientId; plain and salted) and by JSON (patientId = each canary), and batches', async () => {
    await step('anchor by upload (plain): document, filename, patientId, headers', async () => {
      const form = new FormData();
      for (const [k, v] of Object.entries({ recordId: claimsPatient.recordId, patientId: claimsPatient.patientId, category: CATEGORY, commitment: 'plain' })) form.append(k, v);
      form.append('document', new Blob([v1]), `${CANARIES['name (Hangul)']}_${CANARIES.RRN}_${CANARIES['e-mail']}.pdf`);
      const anchored = await write(hospital('records-officer'), 'POST', '/v1/records', form, { 'idempotency-key': `upload-${CANARIES.RRN}-${RUN}` });
      expect(anchored.status, json(anchored)).to.equal(201);
      expect(anchored.body.anchor).to.include({ docHash: sha256(v1), recordId: claimsPatient.recordId, version: 1 });
    });

    await step('salted commitment: anchor by upload (default for small documents)', async () => {
      const form = new FormData();
      for (const [k, v] of Object.entries({ recordId: rid('lab-1'), patientId: CANARIES['RRN (digits)'], category: 'loinc:11502-2' })) form.append(k, v);
      form.append('document', new Blob([labResult]), `${CANARIES['name (romanised)']} lab.txt`);
      const anchored = await write(hospital('records-officer'), 'POST', '/v1/records', form);
      expect(anchored.status, json(anchored)).to.equal(201);
      expect(anchored.body.commitment).to.equal('salted');
      expect(anchored.body.salt).to.match(/^[0-9a-f]{64}$/);
      labSalt = anchored.body.salt;
      expect(anchored.body.anchor.docHash).to.not.equal(sha256(labResult));
    });

    await step('anchor by JSON: patientId = each canary', async () => {
      for (const [i, name] of CANARY_NAMES.entries()) {
        const recordId = rid(`j-${i}`);
        const headers: Record<string, string> = /^[\x21-\x7e]+$/.test(CANARIES[name]) ? { 'idempotency-key': CANARIES[name] } : {};
        const anchored = await write(hospital('records-officer'), 'POST', '/v1/records', { recordId, docHash: sha256(`${recordId} ${documentText(i)}`), patientId: CANARIES[name], category: CATEGORY }, headers);
        expect(anchored.status, `${name}: ${json(anchored)}`).to.equal(201);
      }
    });

    await step('batch: patientIds = the canaries, some salted', async () => {
      const records = CANARY_NAMES.map((name, i) => ({
        recordId: rid(`b-${i}`),
        docHash: sha256(`batch ${i} ${documentText(i)} ${RUN}`),
        patientId: `  ${CANARIES[name]}  `,
        category: CATEGORY,
        ...(i % 2 === 0 ? { commitment: 'salted' } : {}),
      }));
      const anchored = await write(hospital('records-officer'), 'POST', '/v1/records/batch', { records }, { 'idempotency-key': `batch-${CANARIES['phone (digits)']}-${RUN}` });
      expect(anchored.status, json(anchored)).to.equal(201);
      expect(anchored.body.anchored).to.equal(CANARY_NAMES.length);
    });

    await step('refused: identifier-looking record ids and categories (JSON, batch, upload)', async () => {
      for (const name of DETECTABLE) {
        const c = CANARIES[name];
        const body = { recordId: c, docHash: sha256(`rid ${c} ${RUN}`), patientId: 'p-1', category: CATEGORY };
        const one = await call(hospital('records-officer'), 'POST', '/v1/records', body, { prefer: 'wait=10' });
        expect(one.status, json(one)).to.equal(400);
        expect(one.body.error.code).to.equal('DIRECT_IDENTIFIER');
        const batch = await call(hospital('records-officer'), 'POST', '/v1/records/batch', { records: [{ ...body, recordId: rid('ok-1') }, body] });
        expect(batch.status, json(batch)).to.equal(400);
        const form = new FormData();
        for (const [k, v] of Object.entries({ recordId: `RX-${c}`, patientId: 'p-1', category: CATEGORY })) form.append(k, v);
        form.append('document', new Blob([Buffer.from(`doc ${c}`)]), 'x.pdf');
        expect((await call(hospital('records-officer'), 'POST', '/v1/records', form)).status).to.equal(400);
      }
      for (const name of ['RRN', 'RRN (digits)', 'phone', 'phone (digits)'] as const) {
        const refused = await call(hospital('records-officer'), 'POST', '/v1/records', { recordId: rid(`cat-${name.length}`), docHash: sha256(`cat ${name} ${RUN}`), patientId: 'p-1', category: `loinc:${CANARIES[name]}` });
        expect(refused.status, json(refused)).to.equal(400);
      }
      const freeText = await call(hospital('records-officer'), 'POST', '/v1/records', { recordId: rid('free'), docHash: sha256(`free ${RUN}`), patientId: 'p', category: CANARIES['name (romanised)'] });
      expect(freeText.status, json(freeText)).to.equal(400);
    });
  });

  it('amendments (plain and salted) and a retraction; free text in a retraction refused', async () => {
    await step('amendment (plain), canary idempotency key', async () => {
      const amended = await write(hospital('records-officer'), 'POST', `/v1/records/${HOSPITAL}/${claimsPatient.recordId}/versions`, { docHash: sha256(v2), category: CATEGORY }, { 'idempotency-key': `amend-${CANARIES['phone (digits)']}-${RUN}` });
      expect(amended.status, json(amended)).to.equal(201);
      expect(amended.body.anchor).to.include({ version: 2, supersedes: sha256(v1) });
    });
    await step('amendment (salted commitment)', async () => {
      const amended = await write(hospital('records-officer'), 'POST', `/v1/records/${HOSPITAL}/${rid('lab-1')}/versions`, { docHash: sha256(Buffer.concat([labResult, Buffer.from(' corrected')])), commitment: 'salted' });
      expect(amended.status, json(amended)).to.equal(201);
      expect(amended.body.commitment).to.equal('salted');
    });
    await step('retraction (reason code); free text refused', async () => {
      const refused = await call(hospital('records-officer'), 'PUT', `/v1/records/${HOSPITAL}/${rid('j-8')}/retraction`, { reason: `wrong patient: ${ALL_IN_ONE}` });
      expect(refused.status, json(refused)).to.equal(400);
      const retracted = await write(hospital('records-officer'), 'PUT', `/v1/records/${HOSPITAL}/${rid('j-8')}/retraction`, { reason: 'wrong-patient' });
      // 200 when answered in time; 201 from write() when it had to follow the Location (it cannot tell a retraction from a creation).
      expect(retracted.status, json(retracted)).to.be.oneOf([200, 201]);
    });
  });

  it('patients: registration requests (patientId = canaries) and registrations signed with the patient key', async () => {
    await step('patient registration requests and registrations', async () => {
      for (const p of [claimsPatient, ...researchPatients]) await register(p);
      // Requests nobody signs: the patientId still goes to the gateway.
      for (const name of ['DOB (digits)', 'phone (digits)'] as const) {
        const request = await call(hospital('records-officer'), 'POST', '/v1/patients/registration-requests', { patientId: CANARIES[name] });
        expect(request.status, json(request)).to.equal(201);
      }
    });
  });

  it('consent: a signed grant → consent-checked access PERMIT at the Insurer → signed revocation → DENY; the patient reads the access log', async () => {
    let grantId = '';
    await step('consent grant (signed by the patient)', async () => {
      grantId = await grant(claimsPatient, hospital('records-officer'), 'InsurerMSP', 'claims', [claimsPatient.recordId]);
    });
    await step('consent-checked access (PERMIT)', async () => {
      const permit = await call(insurer(), 'POST', '/v1/access', { issuer: HOSPITAL, recordId: claimsPatient.recordId, purpose: 'claims' });
      expect(permit.status, json(permit)).to.equal(200);
      expect(permit.body).to.include({ decision: 'PERMIT', grantId });
      // Identifier-looking record ids are refused before the ledger (the access log is on every peer).
      const refused = await call(insurer(), 'POST', '/v1/access', { issuer: HOSPITAL, recordId: CANARIES.RRN, purpose: 'claims' });
      expect(refused.status, json(refused)).to.equal(400);
    });
    await step('consent revocation (signed by the patient)', async () => {
      const message = revokeMessage(claimsPatient.reg!, grantId);
      const revoked = await call(asPatient(sponsor()), 'POST', '/v1/consents/revocations', { message, signature: await claimsPatient.wallet.signTypedData(registrationDomain(claimsPatient.reg!), CONSENT_REVOKE_TYPES, message) });
      expect(revoked.status, json(revoked)).to.equal(201);
    });
    await step('consent-checked access (DENY)', async () => {
      const deny = await call(insurer(), 'POST', '/v1/access', { issuer: HOSPITAL, recordId: claimsPatient.recordId, purpose: 'claims' });
      expect(deny.body, json(deny)).to.include({ decision: 'DENY', reason: 'REVOKED' });
    });
    const challenge = await call(asPatient(insurer()), 'POST', '/v1/patients/challenges', { address: claimsPatient.wallet.address });
    expect(challenge.status, json(challenge)).to.equal(201);
    const toSign = challengeToSign(challenge.body, claimsPatient.reg!);
    if ('problem' in toSign) throw new Error(toSign.problem);
    const authorization = patientAuthorization(toSign.message, await claimsPatient.wallet.signTypedData(toSign.domain, challenge.body.types, toSign.message));
    const log = await call(asPatient(insurer()), 'GET', '/v1/patients/me/access-log', undefined, { authorization });
    expect(log.status, json(log)).to.equal(200);
    expect(log.body.entries.map((e: { decision: string }) => e.decision)).to.deep.equal(['PERMIT', 'DENY']);
  });

  it('research: five patients grant the trial; preview and release with attributes (a canary date of birth); names and numbers in attributes refused', async () => {
    await step('consent grants for the trial (five patients)', async () => {
      for (const p of researchPatients) await grant(p, hospital('records-officer'), 'SponsorMSP', TRIAL, []);
    });
    await step("consent-checked access by the Sponsor's research officer (PERMIT)", async () => {
      const permit = await call(sponsor(), 'POST', '/v1/access', { issuer: HOSPITAL, recordId: researchPatients[0].recordId, purpose: TRIAL });
      expect(permit.body, json(permit)).to.include({ decision: 'PERMIT' });
    });
    // One class of five patients: the same sex, age band, province, month and diagnosis category.
    const attributes = { sex: 'F', birthDate: CANARIES.DOB, regionCode: '11110', admissionDate: '2025-10-03', diagnosisCode: 'E11.9' };
    const request = (extra: Record<string, unknown> = {}) => ({ grantee: 'SponsorMSP', purpose: TRIAL, records: researchPatients.map((p) => ({ issuer: HOSPITAL, recordId: p.recordId, attributes: { ...attributes, ...extra } })) });
    await step('research release: refusals (name field, RRN value)', async () => {
      for (const extra of [{ name: CANARIES['name (romanised)'] }, { diagnosisCode: CANARIES.RRN }, { note: CANARIES['e-mail'] }]) {
        for (const [role, p] of [
          ['dpo', '/v1/research/releases/preview'],
          ['research-officer', '/v1/research/releases'],
        ] as const) {
          const refused = await call(hospital(role), 'POST', p, request(extra));
          expect(refused.status, `${p} ${JSON.stringify(extra)}: ${json(refused)}`).to.equal(400);
        }
      }
    });
    await step('research release preview', async () => {
      const preview = await call(hospital('research-officer'), 'POST', '/v1/research/releases/preview', request());
      expect(preview.status, json(preview)).to.equal(200);
      expect(preview.body.releasable ?? preview.body.report?.releasable, json(preview)).to.equal(true);
    });
    await step('research release (Access:discloseRecords)', async () => {
      const released = await call(hospital('research-officer'), 'POST', '/v1/research/releases', request(), { prefer: 'wait=30' });
      expect(released.status, json(released)).to.equal(200);
      expect(released.body.rows).to.have.length(5);
      expect(released.body.disclosure.logged).to.equal(5);
    });
  });

  it('erasure by the DPO (patientId = a canary), again (409), and of an unknown patient (404)', async () => {
    await step('erasure (Privacy:recordErasure)', async () => {
      const erased = await call(hospital('dpo'), 'POST', '/v1/erasures', { patientId: CANARIES.DOB }, { prefer: 'wait=30' });
      expect(erased.status, json(erased)).to.equal(201);
      const erasureId = erased.body.erasure.erasureId as string;
      let recorded: Answer | undefined;
      for (let i = 0; i < 240 && recorded?.status !== 200; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 500));
        recorded = await call(hospital('dpo'), 'GET', `/v1/erasures/${erasureId}`);
      }
      expect(recorded?.status, json(recorded!)).to.equal(200);
      const again = await call(hospital('dpo'), 'POST', '/v1/erasures', { patientId: CANARIES.DOB });
      expect(again.status, json(again)).to.equal(409);
      const unknown = await call(hospital('dpo'), 'POST', '/v1/erasures', { patientId: `${CANARIES['name (Hangul)']} ${RUN}` });
      expect(unknown.status, json(unknown)).to.equal(404);
    });
  });

  it('verifications (uploads with canary filenames, hashes, a salt) and receipts', async () => {
    await step('verifications', async () => {
      const form = new FormData();
      form.append('document', new Blob([v1]), `${CANARIES['name (romanised)']} ${CANARIES.RRN}.pdf`);
      const byUpload = await call(insurer(), 'POST', '/v1/verifications', form);
      expect(byUpload.status, json(byUpload)).to.equal(200);
      expect(await verifyUntil(insurer(), { docHash: sha256(v2) }, 'ORIGINAL')).to.include({ issuer: HOSPITAL, recordId: claimsPatient.recordId });
      expect((await verifyUntil(insurer(), { docHash: sha256(labResult), salt: labSalt }, 'SUPERSEDED')).commitment).to.equal('salted');
      expect((await call(insurer(), 'POST', '/v1/verifications', { docHash: sha256(CANARIES.RRN) })).body.verdict).to.equal('UNKNOWN');
    });
    await step('receipts', async () => {
      // A checkpoint comes every 60 s (or 1,000 anchors): poll, with a generous bound.
      let receipt: Answer | undefined;
      for (let i = 0; i < 600 && receipt?.status !== 200; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 1000));
        receipt = await call(hospital('records-officer'), 'GET', `/v1/receipts/${sha256(v2)}`);
        expect(receipt.status, json(receipt)).to.be.oneOf([200, 404, 409]);
      }
      expect(receipt?.status, json(receipt!)).to.equal(200);
      const salted = await call(hospital('records-officer'), 'GET', `/v1/receipts/${sha256(labResult)}`);
      expect(salted.status, json(salted)).to.be.oneOf([200, 404, 409]);
    });
  });

  it("fetches every block of the channel (config block 0 too) with Fabric's peer CLI as the Insurer's admin, and decodes each with configtxlator", async () => {
    const h = await height();
    const admin = net.network.definition.organisations.find((o) => o.name === 'Insurer')!;
    const numbers = [...Array(h).keys()];
    // Two at a time: the machine is shared.
    const worker = async () => {
      for (let n = numbers.shift(); n !== undefined; n = numbers.shift()) {
        const file = path.join(blocksDir, `${net.network.channel}-${n}.block`);
        await retry(() => peerAsAdmin(net.network, admin, ['channel', 'fetch', String(n), file, '-c', net.network.channel, ...ordererFlags(net.network)]), {
          what: `fetch block ${n}`,
          progress: net.progress,
          withinMs: 120_000,
        });
        // To a file: configtxlator opens /dev/stdout by name, which a pipe to Node does not always allow.
        await runTool(net.network, 'configtxlator', ['proto_decode', '--type', 'common.Block', '--input', file, '--output', `${file}.json`]);
        blocks.push({ number: n, raw: readFileSync(file), decoded: readFileSync(`${file}.json`, 'utf8') });
      }
    };
    await Promise.all([worker(), worker()]);
    blocks.sort((a, b) => a.number - b.number);
    expect(blocks.map((b) => b.number)).to.deep.equal([...Array(h).keys()]);
    for (const b of blocks) expect(JSON.parse(b.decoded).header.number ?? '0', `block ${b.number}`).to.equal(String(b.number));
    // Block 0 is the channel's config block; the planted steps are all in the fetched range.
    expect(JSON.parse(blocks[0].decoded).data.data[0].payload.header.channel_header.type).to.equal(1);
    expect(Math.max(...steps.map((s) => s.to))).to.be.at.most(h);
  });

  it('positive controls: the marker is found in its blocks (raw, JSON, decoded fields); each canary inserted into a real block is found in every encoding', () => {
    expect(blocks.length, 'blocks fetched').to.be.greaterThan(0);
    const markers = { marker: MARKER, 'marker patientId': MARKER_PATIENT } as const;
    const markerStep = steps.find((s) => s.name.startsWith('positive control'))!;
    const totals = Object.fromEntries(VIEWS.map((v) => [v, emptyResult(markers)])) as Record<View, ScanResult<keyof typeof markers>>;
    const where: string[] = [];
    for (const block of blocks) {
      const r = scanBlock(block, markers);
      for (const v of VIEWS) addResults(totals[v], r[v]);
      if (VIEWS.some((v) => r[v].total > 0)) where.push(...locate(block, markers).map((l) => `block ${block.number} (${stepOf(block.number)}): ${l}`));
    }
    console.log(`\n    positive control: marker "${MARKER}" (record id, and the document it hashes) and its patientId "${MARKER_PATIENT}"`);
    console.log(table(VIEWS.map((v) => [v, totals[v]])));
    // Where it was found, in short: the first fields, then how many more.
    console.log([...where.slice(0, 6), ...(where.length > 6 ? [`… and ${where.length - 6} more fields`] : [])].map((w) => `      ${w}`).join('\n'));
    for (const v of VIEWS) expect(totals[v].byCanary.marker, `marker in ${v}`).to.be.greaterThan(0);
    expect(totals['raw protobuf'].byEncoding['utf8/NFC'], 'the record id, as text').to.be.greaterThan(0);
    expect(totals['raw protobuf'].byEncoding.sha256, 'the docHash: the SHA-256 of the marker').to.be.greaterThan(0);
    expect(totals['decoded JSON'].byEncoding.base64, 'the arguments, base64 in the JSON').to.be.greaterThan(0);
    // The patientId of the same transaction is on no block: only its HMAC patientRef is.
    for (const v of VIEWS) expect(totals[v].byCanary['marker patientId'], `marker patientId in ${v}`).to.equal(0);
    const markerBlocks = blocks.filter((b) => b.number >= markerStep.from && b.number < markerStep.to);
    expect(markerBlocks.some((b) => scanBytes([b.raw], { marker: MARKER }).total > 0), 'the marker is in the blocks of its step').to.equal(true);

    // Each canary in each encoding, inserted into the largest block: into its raw bytes, and into
    // its decoded JSON as a string field and as a base64 field (as configtxlator shows the chaincode's bytes).
    const host = blocks.reduce((a, b) => (b.raw.length > a.raw.length ? b : a));
    const hostJson = JSON.parse(host.decoded);
    for (const name of CANARY_NAMES) {
      const planted = plantedForms(CANARIES[name]);
      for (const encoding of ENCODINGS) {
        const at = host.raw.length >> 1;
        const raw = Buffer.concat([host.raw.subarray(0, at), Buffer.from(planted[encoding], 'utf8'), host.raw.subarray(at)]);
        const withField = {
          ...hostJson,
          metadata: { ...hostJson.metadata, plantedText: planted[encoding], plantedBytes: Buffer.from(`{"value":${JSON.stringify(planted[encoding])}}`).toString('base64') },
        };
        const r = scanBlock({ number: host.number, raw, decoded: JSON.stringify(withField) }, { [name]: CANARIES[name] });
        for (const v of VIEWS) expect(r[v].byEncoding[encoding], `${name} as ${encoding}, inserted into block ${host.number}: ${v}`).to.be.greaterThan(0);
      }
    }
  });

  it('finds no canary, in any encoding, in any block: raw protobuf, decoded JSON, decoded base64 fields', () => {
    expect(blocks.length, 'blocks fetched').to.be.greaterThan(0);
    const totals = Object.fromEntries(VIEWS.map((v) => [v, emptyResult(CANARIES)])) as Record<View, ScanResult<CanaryName>>;
    const bytes = { raw: 0, json: 0, fields: 0 };
    const leaks: string[] = [];
    for (const block of blocks) {
      const r = scanBlock(block, CANARIES);
      for (const v of VIEWS) addResults(totals[v], r[v]);
      const fields = blockFields(block.decoded);
      bytes.raw += block.raw.length;
      bytes.json += Buffer.byteLength(block.decoded, 'utf8');
      bytes.fields += fields.base64.reduce((n, f) => n + f.bytes.length, 0);
      if (VIEWS.some((v) => r[v].total > 0)) {
        const found = locate(block, CANARIES);
        leaks.push(...(found.length > 0 ? found : [`${VIEWS.filter((v) => r[v].total > 0).join(', ')} only`]).map((l) => `block ${block.number} (input path: ${stepOf(block.number)}): ${l}`));
      }
    }
    const hits = VIEWS.reduce((n, v) => n + totals[v].total, 0);
    const fmt = (n: number) => n.toLocaleString('en');
    console.log(`\n    blocks: ${blocks.length} (0 … ${blocks.length - 1}, config block 0 included), fetched with peer channel fetch, decoded with configtxlator`);
    console.log(`    bytes scanned: ${fmt(bytes.raw + bytes.json + bytes.fields)} (raw protobuf ${fmt(bytes.raw)}, decoded JSON ${fmt(bytes.json)}, decoded base64 fields ${fmt(bytes.fields)})`);
    console.log(`    encodings (${ENCODINGS.length}): ${ENCODINGS.join(', ')}`);
    console.log(`    canaries (${CANARY_NAMES.length}): ${CANARY_NAMES.map((n) => `${n}=${CANARIES[n]}`).join(', ')}`);
    console.log(`    input paths planted (${steps.length}), with the blocks they committed:`);
    for (const s of steps) console.log(`      ${s.name}: ${s.to > s.from ? `blocks ${s.from}…${s.to - 1}` : 'no block (nothing written)'}`);
    console.log(table(VIEWS.map((v) => [v, totals[v]])));
    console.log(`    hits: ${hits}${leaks.length > 0 ? `\n${leaks.map((l) => `      ${l}`).join('\n')}` : ''}\n`);
    expect(leaks, 'canary hits on the ledger').to.deep.equal([]);
    expect(hits).to.equal(0);
  });
});
