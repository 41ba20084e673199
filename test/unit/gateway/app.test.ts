import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { createGatewayApp } from '../../../gateway/src/http/app';
import { hashApiKey } from '../../../gateway/src/http/auth';
import type { Role } from '../../../gateway/src/http/roles';
import { RecordsService } from '../../../gateway/src/records/service';
import type { Committed, Ledger } from '../../../gateway/src/fabric/client';
import { LedgerError } from '../../../gateway/src/fabric/errors';
import { MasterKey, PatientKeyStore } from '../../../gateway/src/privacy';

/**
 * The HTTP layer in front of the ledger. The ledger here is a recorder that answers every call
 * with "unavailable": these tests check what reaches it (and that bad input never does), not
 * ledger behaviour, which the chaincode tests and the integration tests cover.
 */
class RecordingLedger implements Ledger {
  readonly calls: { kind: 'evaluate' | 'submit'; name: string; args: string[] }[] = [];
  async evaluate(name: string, ...args: string[]): Promise<Uint8Array> {
    this.calls.push({ kind: 'evaluate', name, args });
    throw new LedgerError('LEDGER_UNAVAILABLE', 'No peer or orderer of the consortium answered; the request was not recorded.');
  }
  async submit(name: string, ...args: string[]): Promise<Committed> {
    this.calls.push({ kind: 'submit', name, args });
    throw new LedgerError('LEDGER_UNAVAILABLE', 'No peer or orderer of the consortium answered; the request was not recorded.');
  }
}

const KEYS: Record<Role, string> = {
  'records-officer': 'records-officer-key-0123456789',
  'claims-officer': 'claims-officer-key-0123456789ab',
  'research-officer': 'research-officer-key-012345678',
  dpo: 'dpo-key-0123456789abcdef0123',
  admin: 'admin-key-0123456789abcdef012',
  clinician: 'clinician-key-0123456789abcdef0',
  'linkage-officer': 'linkage-officer-key-0123456789',
  'linkage-partner': 'linkage-partner-key-0123456789',
};
const users = (Object.keys(KEYS) as Role[]).map((role) => ({ id: `${role}-1`, role, apiKeySha256: hashApiKey(KEYS[role]) }));
const HASH = 'a'.repeat(64);

interface Started {
  url: string;
  ledger: RecordingLedger;
  close: () => Promise<void>;
}

async function start(orgType: 'hospital' | 'insurer', dir: string, limits?: { perSecond: number; burst: number }): Promise<Started> {
  const ledger = new RecordingLedger();
  const store = await PatientKeyStore.open({ stateDir: path.join(dir, orgType), masterKey: MasterKey.generate(), ifMissing: 'create' });
  const { app } = createGatewayApp({
    org: { mspId: orgType === 'hospital' ? 'HospitalMSP' : 'InsurerMSP', name: orgType, type: orgType },
    users,
    records: new RecordsService(ledger, store),
    logger: pino({ level: 'silent' }),
    limits: { jsonBytes: '64kb', upload: { maxBytes: 4096, fieldName: 'document', maxFields: 8, maxFieldBytes: 256 }, ...(limits ?? {}) },
  });
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    ledger,
    close: async () => {
      await store.close();
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
    },
  };
}

async function call(base: string, method: string, p: string, opts: { role?: Role; key?: string; json?: unknown; raw?: string; type?: string; form?: FormData } = {}) {
  const headers: Record<string, string> = {};
  const key = opts.key ?? (opts.role ? KEYS[opts.role] : undefined);
  if (key) headers.authorization = `Bearer ${key}`;
  let body: string | FormData | undefined;
  if (opts.form) body = opts.form;
  else if (opts.raw !== undefined) {
    body = opts.raw;
    headers['content-type'] = opts.type ?? 'application/json';
  } else if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(base + p, { method, headers, body });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text, headers: res.headers };
}

describe('gateway: HTTP layer', function () {
  this.timeout(20_000);
  let dir: string;
  let hospital: Started;
  let insurer: Started;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-gw-'));
    hospital = await start('hospital', dir);
    insurer = await start('insurer', dir);
  });
  after(async () => {
    await hospital.close();
    await insurer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const anchor = { recordId: 'r-1', docHash: HASH, patientId: 'MRN-000123', category: 'loinc:11506-3' };

  describe('refusals: a 4xx with a code and a sentence, and nothing reaches the ledger', () => {
    const cases: [string, 'hospital' | 'insurer', string, string, Parameters<typeof call>[3], number, string][] = [
      ['no API key', 'hospital', 'POST', '/v1/records', { json: anchor }, 401, 'AUTH_REQUIRED'],
      ['an unknown API key', 'hospital', 'POST', '/v1/records', { key: 'x'.repeat(32), json: anchor }, 401, 'AUTH_INVALID'],
      ['a claims officer anchoring', 'hospital', 'POST', '/v1/records', { role: 'claims-officer', json: anchor }, 403, 'FORBIDDEN_ROLE'],
      ["an insurer's gateway anchoring", 'insurer', 'POST', '/v1/records', { role: 'records-officer', json: anchor }, 403, 'FORBIDDEN_ORG_TYPE'],
      ["amending another org's record", 'hospital', 'POST', '/v1/records/Hospital2MSP/r-1/versions', { role: 'records-officer', json: { docHash: HASH } }, 403, 'FORBIDDEN_NOT_ISSUER'],
      ['bad JSON', 'hospital', 'POST', '/v1/records', { role: 'records-officer', raw: '{"recordId": ' }, 400, 'INVALID_JSON'],
      ['a short hash', 'hospital', 'POST', '/v1/records', { role: 'records-officer', json: { ...anchor, docHash: 'abc' } }, 400, 'INVALID_REQUEST'],
      ['an uppercase hash', 'hospital', 'POST', '/v1/verifications', { role: 'claims-officer', json: { docHash: HASH.toUpperCase() } }, 400, 'INVALID_REQUEST'],
      ['an unknown field', 'hospital', 'POST', '/v1/records', { role: 'records-officer', json: { ...anchor, patientName: 'Hong Gildong' } }, 400, 'UNKNOWN_FIELD'],
      ['a missing field', 'hospital', 'POST', '/v1/records', { role: 'records-officer', json: { recordId: 'r', docHash: HASH } }, 400, 'INVALID_REQUEST'],
      ['a number for a string', 'hospital', 'POST', '/v1/records', { role: 'records-officer', json: { ...anchor, recordId: 7 } }, 400, 'INVALID_REQUEST'],
      ['an array body', 'hospital', 'POST', '/v1/records', { role: 'records-officer', json: [anchor] }, 400, 'INVALID_REQUEST'],
      ['a record id with U+0000', 'hospital', 'POST', '/v1/records', { role: 'records-officer', json: { ...anchor, recordId: 'a\u0000b' } }, 400, 'INVALID_REQUEST'],
      ['a phone number as record id', 'hospital', 'POST', '/v1/records', { role: 'records-officer', json: { ...anchor, recordId: '010-1234-5678' } }, 400, 'DIRECT_IDENTIFIER'],
      ['an empty batch', 'hospital', 'POST', '/v1/records/batch', { role: 'records-officer', json: { records: [] } }, 400, 'INVALID_REQUEST'],
      ['an unknown retraction reason', 'hospital', 'PUT', '/v1/records/HospitalMSP/r-1/retraction', { role: 'records-officer', json: { reason: 'because' } }, 400, 'INVALID_REQUEST'],
      ['a bad issuer in the path', 'hospital', 'GET', '/v1/records/Bad%20MSP/r-1', { role: 'claims-officer' }, 400, 'INVALID_REQUEST'],
      ['a body over the JSON limit', 'hospital', 'POST', '/v1/records', { role: 'records-officer', raw: JSON.stringify({ ...anchor, pad: 'x'.repeat(70_000) }) }, 413, 'BODY_TOO_LARGE'],
      ['text instead of JSON', 'hospital', 'POST', '/v1/records', { role: 'records-officer', raw: 'docHash=aa', type: 'text/plain' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['JSON to the upload-only hash route', 'hospital', 'POST', '/v1/documents/hash', { role: 'claims-officer', json: {} }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['an unknown route', 'hospital', 'GET', '/v1/nothing', { role: 'admin' }, 404, 'ROUTE_NOT_FOUND'],
    ];
    for (const [name, which, method, p, opts, status, code] of cases) {
      it(`${name} → ${status} ${code}`, async () => {
        const gw = which === 'hospital' ? hospital : insurer;
        const before = gw.ledger.calls.length;
        const res = await call(gw.url, method, p, opts);
        expect(res.status, JSON.stringify(res.body)).to.equal(status);
        expect(res.body.error.code).to.equal(code);
        expect(res.body.error.message).to.be.a('string').and.match(/[.!]$/);
        expect(res.body.error.requestId).to.be.a('string');
        expect(gw.ledger.calls.length).to.equal(before);
      });
    }

    it('an oversized upload → 413 DOCUMENT_TOO_LARGE, nothing reaches the ledger', async () => {
      const form = new FormData();
      form.append('recordId', 'r-2');
      form.append('document', new Blob([new Uint8Array(5000)]), 'big.pdf');
      const before = hospital.ledger.calls.length;
      const res = await call(hospital.url, 'POST', '/v1/records', { role: 'records-officer', form });
      expect(res.status).to.equal(413);
      expect(res.body.error.code).to.equal('DOCUMENT_TOO_LARGE');
      expect(hospital.ledger.calls.length).to.equal(before);
    });
  });

  describe('what reaches the ledger', () => {
    it("sends a commitment, never the hospital's patient id, and answers 503 with a code when the ledger is down", async () => {
      const res = await call(hospital.url, 'POST', '/v1/records', { role: 'records-officer', json: anchor });
      expect(res.status).to.equal(503);
      expect(res.body.error.code).to.equal('LEDGER_UNAVAILABLE');
      const sent = hospital.ledger.calls[hospital.ledger.calls.length - 1];
      expect(sent.name).to.equal('Records:anchorRecord');
      expect(sent.args.join(' ')).to.not.include('MRN-000123');
      const record = JSON.parse(sent.args[0]);
      expect(record).to.have.all.keys('recordId', 'docHash', 'patientRef', 'category');
      expect(record.patientRef).to.match(/^[0-9a-f]{64}$/);
    });

    it('hashes an uploaded document and anchors its hash with the form fields', async () => {
      const form = new FormData();
      form.append('recordId', 'r-3');
      form.append('patientId', 'MRN-000123');
      form.append('category', 'loinc:11506-3');
      form.append('commitment', 'plain'); // a small upload is otherwise salted (salted-commitment-flow.test.ts)
      form.append('document', new Blob(['discharge summary']), 'd.txt');
      await call(hospital.url, 'POST', '/v1/records', { role: 'records-officer', form });
      const record = JSON.parse(hospital.ledger.calls[hospital.ledger.calls.length - 1].args[0]);
      expect(record.docHash).to.equal(createHash('sha256').update('discharge summary').digest('hex'));
      expect(record.recordId).to.equal('r-3');
    });

    it('verifies by hash through a query, not a submit', async () => {
      await call(insurer.url, 'POST', '/v1/verifications', { role: 'claims-officer', json: { docHash: HASH } });
      expect(insurer.ledger.calls[insurer.ledger.calls.length - 1]).to.deep.include({ kind: 'evaluate', name: 'Records:lookupByHash', args: [HASH] });
    });
  });

  describe('service endpoints', () => {
    it('serves an OpenAPI 3.1 document whose schemas compile', async () => {
      const res = await call(hospital.url, 'GET', '/v1/openapi.json');
      expect(res.status).to.equal(200);
      expect(res.body.openapi).to.equal('3.1.0');
      const ajv = new Ajv2020({ strict: false });
      addFormats(ajv);
      ajv.addSchema({ $id: 'doc', components: res.body.components });
      for (const name of Object.keys(res.body.components.schemas)) expect(() => ajv.getSchema(`doc#/components/schemas/${name}`)).to.not.throw();
      expect(Object.keys(res.body.paths)).to.include.members(['/v1/records', '/v1/verifications', '/v1/records/{issuer}/{recordId}/history']);
    });

    it('answers /healthz and exposes request counters on /metrics', async () => {
      expect((await call(hospital.url, 'GET', '/healthz')).body).to.deep.equal({ status: 'ok', org: 'HospitalMSP' });
      const metrics = await call(hospital.url, 'GET', '/metrics');
      expect(metrics.body).to.include('medprov_http_requests_total{operation="anchorRecord",status="400"}');
    });

    it('tells callers who they are', async () => {
      const res = await call(hospital.url, 'GET', '/v1/whoami', { role: 'dpo' });
      expect(res.body.user).to.deep.equal({ id: 'dpo-1', role: 'dpo' });
    });
  });

  it('rate-limits a flooding user with 429 while serving the others', async () => {
    const limited = await start('hospital', path.join(dir, 'limited'), { perSecond: 1, burst: 5 });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 8; i++) codes.push((await call(limited.url, 'GET', '/v1/whoami', { role: 'claims-officer' })).status);
      expect(codes.slice(0, 5)).to.deep.equal([200, 200, 200, 200, 200]);
      expect(codes.slice(5)).to.deep.equal([429, 429, 429]);
      const other = await call(limited.url, 'GET', '/v1/whoami', { role: 'research-officer' });
      expect(other.status).to.equal(200);
      const limitedRes = await call(limited.url, 'GET', '/v1/whoami', { role: 'claims-officer' });
      expect(limitedRes.body.error.code).to.equal('RATE_LIMITED');
      expect(limitedRes.headers.get('retry-after')).to.match(/^\d+$/);
    } finally {
      await limited.close();
    }
  });
});
