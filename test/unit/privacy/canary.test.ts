import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { HDNodeWallet, Mnemonic, id } from 'ethers';
import pino from 'pino';
import { IdentityContract } from '../../../chaincode/src';
import { CONSENT_GRANT_TYPES, CONSENT_REVOKE_TYPES, consentDomain, type ConsentGrantMessage } from '../../../chaincode/src/lib/eip712';
import type { Committed } from '../../../gateway/src/fabric/client';
import { DelegatingLedger } from '../../../gateway/src/fabric/delegating-ledger';
import type { Role } from '../../../gateway/src/http/roles';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2, INSURER, SPONSOR } from '../chaincode/fixtures';
import { ROLE_KEYS, startOrgGateway } from '../support/org-gateways';
import { ALL_IN_ONE, ASCII_CANARIES, CANARIES, CANARY_NAMES, DETECTABLE, ENCODINGS, documentText, plantedForms, scan, scanBytes } from '../../support/canaries';

/**
 * The canary test (issue 8, unit level): distinctive fake identifiers are planted in every input
 * path the gateways accept, the record and consent flows run to completion, and then everything
 * that is replicated (world state, each committed transaction's writes, events and arguments)
 * or persisted outside the patient-key store (the acceptance journal, the gateways' logs) is
 * scanned for each canary in many encodings. Expected: no hit anywhere. The canaries and the
 * scanner are test/support/canaries.ts, shared with the real-network scan of every block
 * (test/integration/network/phi-scan.test.ts).
 */

// ───────────────────────────── the gateways ─────────────────────────────

const CHANNEL = 'medprov';
const DAY = 86_400;
const DISCHARGE = 'loinc:18842-5';
const KEYS = ROLE_KEYS;
const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** What a gateway sends its peer: submitted proposals become transactions in blocks on every peer. */
const proposals: string[] = [];
const queries: string[] = [];
class RecordingLedger extends DelegatingLedger {
  override async evaluate(name: string, ...args: string[]): Promise<Uint8Array> {
    queries.push(JSON.stringify([name, ...args]));
    return this.inner.evaluate(name, ...args);
  }
  override async submit(name: string, ...args: string[]): Promise<Committed> {
    proposals.push(JSON.stringify([name, ...args]));
    return this.inner.submit(name, ...args);
  }
}

/** Every line every gateway (and its journal and submitter) logs, at the most verbose level. */
const logLines: string[] = [];
const logger = pino({ level: 'trace' }, { write: (line: string) => void logLines.push(line) });

interface Gateway {
  url: string;
  stop: () => Promise<void>;
}

function gateway(ledger: FakeLedger, mspId: string, type: 'hospital' | 'insurer' | 'sponsor', dir: string, withJournal: boolean): Promise<Gateway> {
  const limits = { patientPerSecond: 1000, patientBurst: 1000 };
  return startOrgGateway({ ledger, mspId, type, dir, acceptance: withJournal, limits, logger, wrapLedger: (chaincode) => new RecordingLedger(chaincode) });
}

// Headers on every request: identifier-looking request ids, idempotency keys and user agents.
let headerTurn = 0;
function canaryHeaders(): Record<string, string> {
  const turn = headerTurn++;
  return {
    'x-request-id': ASCII_CANARIES[turn % ASCII_CANARIES.length],
    'user-agent': `EMR-bridge/1.0 (${ALL_IN_ONE.replace(/[^\x20-\x7e]/g, '')})`,
  };
}

interface Res {
  status: number;
  body: any;
  headers: Headers;
}

async function send(gw: Gateway, method: string, p: string, opts: { role?: Role; json?: unknown; form?: FormData; headers?: Record<string, string> } = {}): Promise<Res> {
  const headers: Record<string, string> = { ...canaryHeaders(), ...(opts.headers ?? {}) };
  if (opts.role) headers.authorization = `Bearer ${KEYS[opts.role]}`;
  let body: string | FormData | undefined;
  if (opts.form) body = opts.form;
  else if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(gw.url + p, { method, headers, body });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

/** Every gateway's files of one kind of state (startOrgGateway keeps them in `<dir>/<mspId>/<kind>`). */
function stateFiles(dir: string, kind: 'acceptance' | 'keys'): string[] {
  return readdirSync(dir).flatMap((mspId) => (existsSync(path.join(dir, mspId, kind)) ? filesUnder(path.join(dir, mspId, kind)) : []));
}

function filesUnder(dir: string): string[] {
  let out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    out = statSync(p).isDirectory() ? out.concat(filesUnder(p)) : out.concat(p);
  }
  return out;
}

// ───────────────────────────── the test ─────────────────────────────

describe('privacy canary: identifiers planted in every input path reach no ledger, journal or log', function () {
  this.timeout(60_000);
  const ledger = new FakeLedger({ channel: CHANNEL });
  let dir: string;
  let hospital: Gateway; // with the acceptance journal
  let hospital2: Gateway; // synchronous writes
  let insurer: Gateway;
  let sponsor: Gateway;
  const patient = HDNodeWallet.fromMnemonic(Mnemonic.fromEntropy(id('canary patient seed')), `m/44'/60'/0'/0/0`);
  let nonceCounter = 0;
  const freshNonce = () => id(`canary nonce ${++nonceCounter}`);
  const v1 = Buffer.from(documentText(1), 'utf8');
  const v2 = Buffer.from(documentText(2), 'utf8');
  const RECORD = 'cn-adm-0001';
  let patientRef: string;

  /** Expects the status and code, with nothing written to the ledger and nothing new in the journal. */
  async function refusedUnwritten(request: () => Promise<Res>, status: number, code: string): Promise<void> {
    const writes = ledger.writeCount;
    const journalBytes = stateFiles(dir, 'acceptance').reduce((n, f) => n + statSync(f).size, 0);
    const res = await request();
    expect(res.status, JSON.stringify(res.body)).to.equal(status);
    expect(res.body.error.code).to.equal(code);
    expect(ledger.writeCount, 'nothing written to the ledger').to.equal(writes);
    expect(stateFiles(dir, 'acceptance').reduce((n, f) => n + statSync(f).size, 0), 'nothing written to the journal').to.equal(journalBytes);
  }

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-canary-'));
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    hospital = await gateway(ledger, HOSPITAL, 'hospital', dir, true);
    hospital2 = await gateway(ledger, HOSPITAL2, 'hospital', dir, false);
    insurer = await gateway(ledger, INSURER, 'insurer', dir, false);
    sponsor = await gateway(ledger, SPONSOR, 'sponsor', dir, false);
  });
  after(async () => {
    for (const gw of [hospital, hospital2, insurer, sponsor]) await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the scanner finds every canary in every encoding (positive control)', () => {
    for (const name of CANARY_NAMES) {
      const control = plantedForms(CANARIES[name]);
      for (const encoding of ENCODINGS) {
        expect(scan([control[encoding]]).byEncoding[encoding], `${name} in ${encoding}`).to.be.greaterThan(0);
        // The byte scanner of raw blocks finds the same, in the bytes of any text around it.
        const bytes = Buffer.concat([Buffer.from([0x0a, 0xff, 0xc3]), Buffer.from(control[encoding], 'utf8'), Buffer.from([0xe1, 0x80])]);
        expect(scanBytes([bytes]).byEncoding[encoding], `${name} in ${encoding}, as bytes`).to.be.greaterThan(0);
      }
    }
  });

  it('records: anchors (multipart and JSON, one and batch) carry the canaries as patientId, in the document, the filename and the headers', async () => {
    // Multipart upload at the journaled hospital: the document itself is full of canaries.
    const form = new FormData();
    form.append('document', new Blob([v1]), `${CANARIES['name (Hangul)']}_${CANARIES.RRN}_${CANARIES['e-mail']}.pdf`);
    form.append('recordId', RECORD);
    form.append('patientId', ALL_IN_ONE);
    form.append('category', DISCHARGE);
    // Plain: later steps verify and amend by the bare hash (salted anchors: salted-commitment-flow.test.ts).
    form.append('commitment', 'plain');
    const up = await send(hospital, 'POST', '/v1/records', { role: 'records-officer', form, headers: { prefer: 'wait=10', 'idempotency-key': `upload:${CANARIES.RRN}` } });
    expect(up.status, JSON.stringify(up.body)).to.equal(201);
    expect(up.body.anchor).to.include({ docHash: sha(v1), recordId: RECORD, version: 1 });
    patientRef = up.body.anchor.patientRef;
    // The client's identifier-looking X-Request-Id is not kept: the gateway answers with its own.
    expect(up.headers.get('x-request-id')).to.match(/^[0-9a-f-]{36}$/);

    // JSON anchors, one per canary as the patientId, at both hospitals (journaled and synchronous).
    for (const [i, name] of CANARY_NAMES.entries()) {
      for (const [gw, prefix] of [
        [hospital, 'cn-h1'],
        [hospital2, 'cn-h2'],
      ] as const) {
        const recordId = `${prefix}-${i}`;
        const headers: Record<string, string> = { prefer: 'wait=10' };
        if (/^[\x21-\x7e]+$/.test(CANARIES[name])) headers['idempotency-key'] = CANARIES[name];
        const res = await send(gw, 'POST', '/v1/records', { role: 'records-officer', json: { recordId, docHash: sha(`${recordId} ${documentText(i)}`), patientId: CANARIES[name], category: DISCHARGE }, headers });
        expect(res.status, `${name}: ${JSON.stringify(res.body)}`).to.equal(201);
      }
    }

    // A batch whose patientIds are the canaries, at both hospitals.
    for (const [gw, prefix] of [
      [hospital, 'cn-b1'],
      [hospital2, 'cn-b2'],
    ] as const) {
      const records = CANARY_NAMES.map((name, i) => ({ recordId: `${prefix}-${i}`, docHash: sha(`${prefix}-${i}`), patientId: `  ${CANARIES[name]}  `, category: DISCHARGE }));
      const res = await send(gw, 'POST', '/v1/records/batch', { role: 'records-officer', json: { records }, headers: { prefer: 'wait=10' } });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      expect(res.body.anchored).to.equal(CANARY_NAMES.length);
    }
  });

  it('record ids and categories that look like identifiers are refused (400 DIRECT_IDENTIFIER), in JSON, multipart and batches, with nothing written', async () => {
    for (const name of DETECTABLE) {
      const c = CANARIES[name];
      for (const gw of [hospital, hospital2]) {
        const json = { recordId: c, docHash: sha(`rid ${c}`), patientId: 'p-1', category: DISCHARGE };
        await refusedUnwritten(() => send(gw, 'POST', '/v1/records', { role: 'records-officer', json, headers: { prefer: 'wait=10' } }), 400, 'DIRECT_IDENTIFIER');
        await refusedUnwritten(
          () => send(gw, 'POST', '/v1/records/batch', { role: 'records-officer', json: { records: [{ ...json, recordId: 'cn-ok-1' }, json] }, headers: { prefer: 'wait=10' } }),
          400,
          'DIRECT_IDENTIFIER',
        );
        const form = new FormData();
        form.append('document', new Blob([Buffer.from(`doc ${c}`)]), 'x.pdf');
        form.append('recordId', `RX-${c}`);
        form.append('patientId', 'p-1');
        form.append('category', DISCHARGE);
        await refusedUnwritten(() => send(gw, 'POST', '/v1/records', { role: 'records-officer', form }), 400, 'DIRECT_IDENTIFIER');
      }
    }
    // A category the schema lets through (letters, digits, . _ : -) but that is an identifier.
    for (const name of ['RRN', 'RRN (digits)', 'phone', 'phone (digits)'] as const) {
      const json = { recordId: `cn-cat-${name.length}`, docHash: sha(`cat ${name}`), patientId: 'p-1', category: `loinc:${CANARIES[name]}` };
      for (const gw of [hospital, hospital2]) await refusedUnwritten(() => send(gw, 'POST', '/v1/records', { role: 'records-officer', json }), 400, 'DIRECT_IDENTIFIER');
    }
    // Categories with a name, a date or an e-mail are outside the schema's alphabet, or not codes at all.
    for (const category of [CANARIES['name (Hangul)'], CANARIES['name (romanised)'], CANARIES['e-mail']]) {
      await refusedUnwritten(() => send(hospital2, 'POST', '/v1/records', { role: 'records-officer', json: { recordId: 'cn-cat-x', docHash: sha('cat x'), patientId: 'p', category } }), 400, 'INVALID_REQUEST');
    }
    // Identifier-looking Idempotency-Keys outside printable ASCII are refused; the ASCII ones are kept only as a salted digest.
    await refusedUnwritten(
      () => send(hospital, 'POST', '/v1/records', { role: 'records-officer', json: { recordId: 'cn-idem', docHash: sha('idem'), patientId: 'p', category: DISCHARGE }, headers: { 'idempotency-key': encodeURIComponent(CANARIES['name (Hangul)']).replace(/%/g, '') + '\u00e9' } }),
      400,
      'IDEMPOTENCY_KEY_INVALID',
    );
  });

  it('verify → amend → retract, with identifier-looking record ids and categories in paths and bodies refused', async () => {
    const verified = await send(insurer, 'POST', '/v1/verifications', { role: 'claims-officer', form: (() => {
      const f = new FormData();
      f.append('document', new Blob([v1]), `${CANARIES['name (romanised)']}.pdf`);
      return f;
    })() });
    expect(verified.body).to.include({ verdict: 'ORIGINAL', issuer: HOSPITAL, recordId: RECORD });

    for (const name of DETECTABLE) {
      const c = encodeURIComponent(CANARIES[name]);
      await refusedUnwritten(() => send(hospital, 'POST', `/v1/records/${HOSPITAL}/${c}/versions`, { role: 'records-officer', json: { docHash: sha(v2) }, headers: { prefer: 'wait=10' } }), 400, 'DIRECT_IDENTIFIER');
      await refusedUnwritten(() => send(hospital2, 'POST', `/v1/records/${HOSPITAL2}/${c}/versions`, { role: 'records-officer', json: { docHash: sha(v2) } }), 400, 'DIRECT_IDENTIFIER');
      await refusedUnwritten(() => send(hospital, 'PUT', `/v1/records/${HOSPITAL}/${c}/retraction`, { role: 'records-officer', json: { reason: 'entered-in-error' }, headers: { prefer: 'wait=10' } }), 400, 'DIRECT_IDENTIFIER');
      await refusedUnwritten(() => send(hospital2, 'PUT', `/v1/records/${HOSPITAL2}/${c}/retraction`, { role: 'records-officer', json: { reason: 'entered-in-error' } }), 400, 'DIRECT_IDENTIFIER');
    }
    await refusedUnwritten(
      () => send(hospital, 'POST', `/v1/records/${HOSPITAL}/${RECORD}/versions`, { role: 'records-officer', json: { docHash: sha(v2), category: `x:${CANARIES['phone (digits)']}` }, headers: { prefer: 'wait=10' } }),
      400,
      'DIRECT_IDENTIFIER',
    );
    // Free text in a retraction is refused by the schema (a reason is a code).
    await refusedUnwritten(() => send(hospital, 'PUT', `/v1/records/${HOSPITAL}/${RECORD}/retraction`, { role: 'records-officer', json: { reason: `wrong patient: ${ALL_IN_ONE}` } }), 400, 'INVALID_REQUEST');
    await refusedUnwritten(() => send(hospital, 'PUT', `/v1/records/${HOSPITAL}/${RECORD}/retraction`, { role: 'records-officer', json: { reason: 'entered-in-error', note: ALL_IN_ONE } }), 400, 'UNKNOWN_FIELD');

    const amended = await send(hospital, 'POST', `/v1/records/${HOSPITAL}/${RECORD}/versions`, { role: 'records-officer', json: { docHash: sha(v2) }, headers: { prefer: 'wait=10', 'idempotency-key': `amend:${CANARIES['phone (digits)']}` } });
    expect(amended.status, JSON.stringify(amended.body)).to.equal(201);
    expect(amended.body.anchor).to.include({ version: 2, supersedes: sha(v1) });
    const amended2 = await send(hospital2, 'POST', `/v1/records/${HOSPITAL2}/cn-h2-0/versions`, { role: 'records-officer', json: { docHash: sha(`v2 ${documentText(0)}`) } });
    expect(amended2.status, JSON.stringify(amended2.body)).to.equal(201);
    expect((await send(insurer, 'POST', '/v1/verifications', { role: 'claims-officer', json: { docHash: sha(v1) } })).body).to.include({ verdict: 'SUPERSEDED' });
    expect((await send(hospital2, 'PUT', `/v1/records/${HOSPITAL2}/cn-h2-0/retraction`, { role: 'records-officer', json: { reason: 'entered-in-error' } })).status).to.equal(200);
  });

  it('consent: register (patientId = canaries) → grant → access PERMIT → revoke → access DENY → access log; identifier-looking scope and purposes are refused', async () => {
    // Registration: the hospital's patient id (all canaries at once), never past the gateway.
    const request = await send(hospital, 'POST', '/v1/patients/registration-requests', { role: 'records-officer', json: { patientId: ALL_IN_ONE } });
    expect(request.status, JSON.stringify(request.body)).to.equal(201);
    expect(request.body.message.patientRef).to.equal(patientRef);
    const signature = await patient.signTypedData(request.body.domain, request.body.types, request.body.message);
    const registered = await send(hospital, 'POST', '/v1/patients', { role: 'records-officer', json: { message: request.body.message, patient: patient.address, signature } });
    expect(registered.status, JSON.stringify(registered.body)).to.equal(201);
    for (const name of CANARY_NAMES) {
      expect((await send(hospital2, 'POST', '/v1/patients/registration-requests', { role: 'records-officer', json: { patientId: CANARIES[name] } })).status).to.equal(201);
    }

    const grant = (overrides: Partial<ConsentGrantMessage> = {}): ConsentGrantMessage => ({
      hospital: HOSPITAL,
      patientRef,
      grantee: INSURER,
      purpose: 'claims',
      categories: [DISCHARGE],
      recordIds: [RECORD],
      validFrom: ledger.now,
      validUntil: ledger.now + 30 * DAY,
      nonce: freshNonce(),
      ...overrides,
    });
    const signGrant = async (message: ConsentGrantMessage) => ({ message, signature: await patient.signTypedData(consentDomain(CHANNEL), CONSENT_GRANT_TYPES, message) });

    // Scope and purpose are copied to every peer: an identifier there is refused, even signed by the patient.
    for (const name of DETECTABLE) {
      const c = CANARIES[name];
      await refusedUnwritten(async () => send(hospital, 'POST', '/v1/consents', { json: await signGrant(grant({ recordIds: [c] })) }), 400, 'DIRECT_IDENTIFIER');
      if (/^[A-Za-z0-9._:-]+$/.test(c)) {
        await refusedUnwritten(async () => send(hospital, 'POST', '/v1/consents', { json: await signGrant(grant({ categories: [`x:${c}`] })) }), 400, 'DIRECT_IDENTIFIER');
        await refusedUnwritten(async () => send(sponsor, 'POST', '/v1/consents', { json: await signGrant(grant({ grantee: SPONSOR, purpose: `research:${c}` })) }), 400, 'DIRECT_IDENTIFIER');
      }
    }
    // Names and dates do not fit the scope's or purpose's alphabet.
    await refusedUnwritten(async () => send(hospital, 'POST', '/v1/consents', { json: await signGrant(grant({ categories: [CANARIES['name (Hangul)']] })) }), 400, 'INVALID_REQUEST');
    await refusedUnwritten(async () => send(hospital, 'POST', '/v1/consents', { json: await signGrant(grant({ recordIds: [CANARIES['name (romanised)']] })) }), 400, 'INVALID_REQUEST');

    const granted = await send(hospital, 'POST', '/v1/consents', { json: await signGrant(grant()) });
    expect(granted.status, JSON.stringify(granted.body)).to.equal(201);
    const grantId = granted.body.grant.grantId as string;

    const permit = await send(insurer, 'POST', '/v1/access', { role: 'claims-officer', json: { issuer: HOSPITAL, recordId: RECORD, purpose: 'claims' } });
    expect(permit.body, JSON.stringify(permit.body)).to.include({ decision: 'PERMIT', grantId });

    // Access with identifier-looking record ids or trial ids: refused before the ledger (the access log is on every peer).
    for (const name of DETECTABLE) {
      const c = CANARIES[name];
      await refusedUnwritten(() => send(insurer, 'POST', '/v1/access', { role: 'claims-officer', json: { issuer: HOSPITAL, recordId: c, purpose: 'claims' } }), 400, 'DIRECT_IDENTIFIER');
      if (/^[A-Za-z0-9._-]+$/.test(c)) {
        await refusedUnwritten(() => send(sponsor, 'POST', '/v1/access', { role: 'research-officer', json: { issuer: HOSPITAL, recordId: RECORD, purpose: `research:${c}` } }), 400, 'DIRECT_IDENTIFIER');
      }
    }

    const revoke = { hospital: HOSPITAL, patientRef, grantId, nonce: freshNonce() };
    const revoked = await send(sponsor, 'POST', '/v1/consents/revocations', { json: { message: revoke, signature: await patient.signTypedData(consentDomain(CHANNEL), CONSENT_REVOKE_TYPES, revoke) } });
    expect(revoked.status, JSON.stringify(revoked.body)).to.equal(201);
    const deny = await send(insurer, 'POST', '/v1/access', { role: 'claims-officer', json: { issuer: HOSPITAL, recordId: RECORD, purpose: 'claims' } });
    expect(deny.body).to.include({ decision: 'DENY', reason: 'REVOKED' });

    const challenge = await send(insurer, 'POST', '/v1/patients/challenges', { json: { address: patient.address } });
    const message = { ...challenge.body.message, hospital: HOSPITAL, patientRef };
    const answer = await patient.signTypedData(challenge.body.domain, challenge.body.types, message);
    const log = await send(insurer, 'GET', '/v1/patients/me/access-log', { headers: { authorization: `Patient ${Buffer.from(JSON.stringify({ message, signature: answer })).toString('base64url')}` } });
    expect(log.status, JSON.stringify(log.body)).to.equal(200);
    expect(log.body.entries.map((e: { decision: string }) => e.decision)).to.deep.equal(['PERMIT', 'DENY']);
  });

  it('scan: no canary, in any encoding, in world state, blocks, events, proposals, the journal, the key store or the logs', async () => {
    await new Promise((r) => setTimeout(r, 100)); // let the last log lines and journal outcomes land
    const utf8 = (b: Uint8Array) => Buffer.from(b).toString('utf8');
    const journalFiles = stateFiles(dir, 'acceptance');
    const keyFiles = stateFiles(dir, 'keys');
    expect(journalFiles.length, 'the journal is on disk').to.be.greaterThan(0);
    expect(keyFiles.length, 'the key stores are on disk').to.be.greaterThan(0);
    expect(ledger.committed.length).to.be.greaterThan(25);
    expect(logLines.length).to.be.greaterThan(100);

    const locations: [string, string[]][] = [
      ['world state: keys', [...ledger.state.keys()]],
      ['world state: values', [...ledger.state.values()].map(utf8)],
      ['blocks: write keys', ledger.committed.flatMap((tx) => [...tx.writes.keys()])],
      ['blocks: write values', ledger.committed.flatMap((tx) => [...tx.writes.values()].filter((v): v is Uint8Array => v !== null).map(utf8))],
      ['blocks: endorsement policies', ledger.committed.flatMap((tx) => [...tx.validationParameters.values()].map(utf8))],
      ['blocks: events', ledger.committed.flatMap((tx) => (tx.event ? [tx.event.name, utf8(tx.event.payload)] : []))],
      ['proposals (tx arguments)', proposals],
      ['peer queries (arguments)', queries],
      [`acceptance journal (${journalFiles.length} files)`, journalFiles.map((f) => readFileSync(f).toString('utf8'))],
      [`patient key stores (${keyFiles.length} files)`, keyFiles.map((f) => readFileSync(f).toString('utf8'))],
      [`gateway logs (${logLines.length} lines)`, logLines],
    ];
    const rows = locations.map(([location, texts]) => ({ location, texts: texts.length, ...scan(texts) }));

    const header = ['location', 'items', ...ENCODINGS, 'total'];
    const table = rows.map((r) => [r.location, String(r.texts), ...ENCODINGS.map((e) => String(r.byEncoding[e])), String(r.total)]);
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ');
    console.log(`\n    canaries: ${CANARY_NAMES.map((n) => `${n}=${CANARIES[n]}`).join(', ')}`);
    console.log(`    ${line(header)}\n    ${widths.map((w) => '-'.repeat(w)).join('-+-')}\n${table.map((row) => `    ${line(row)}`).join('\n')}\n`);

    const leaks = rows.filter((r) => r.total > 0).map((r) => `${r.location}: ${CANARY_NAMES.filter((n) => r.byCanary[n] > 0).join(', ')}`);
    expect(leaks, 'canary hits').to.deep.equal([]);
  });
});
