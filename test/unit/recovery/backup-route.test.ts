/**
 * Issue 20: `POST /v1/admin/backups` through a real gateway app (in-memory ledger, real journal
 * and key store): the admin gets the encrypted backup, which opens with the operator's key and
 * holds the key store, the journal and the users; other roles are refused; a recipient that is
 * not an X25519 public key, or an unknown field, is a 400 with its code.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract } from '../../../chaincode/src';
import { openBackup, type BackupBinding } from '../../../gateway/src/recovery/backup-format';
import { BACKUP_PATHS } from '../../../gateway/src/recovery/gateway-backup';
import { createOperatorKey, openOperatorKey } from '../../../gateway/src/recovery/operator-key';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL } from '../chaincode/fixtures';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';

const BINDING: BackupBinding = { mspId: HOSPITAL, channel: 'medprov', consortium: 'c'.repeat(64) };

describe('POST /v1/admin/backups (issue 20)', function () {
  this.timeout(60_000);
  const operator = createOperatorKey('an operator passphrase');
  let dir: string;
  let hospital: OrgGateway;

  const post = (key: string | undefined, body: unknown) =>
    fetch(`${hospital.url}/v1/admin/backups`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify(body),
    });

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-backup-route-'));
    const ledger = new FakeLedger();
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    hospital = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir, acceptance: true, backups: { binding: BINDING } });
    await hospital.keys.ensurePatientRef('MRN-0001');
  });
  after(async () => {
    await hospital?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers the admin with the encrypted backup: it opens with the operator key and holds key store, journal and users', async () => {
    const res = await post(ROLE_KEYS.admin, { recipient: operator.publicKey });
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/application\/octet-stream/);
    expect(JSON.parse(res.headers.get('medprov-backup-summary') ?? '{}')).to.include({ activePatients: 1 });
    const bytes = Buffer.from(await res.arrayBuffer());
    const contents = openBackup(bytes, openOperatorKey(operator.keyFile, 'an operator passphrase'), BINDING);
    expect(contents.files.map((f) => f.path).sort()).to.deep.equal([BACKUP_PATHS.journal, BACKUP_PATHS.keyStore, BACKUP_PATHS.users].sort());
    expect(JSON.parse(contents.files.find((f) => f.path === BACKUP_PATHS.users)!.data.toString()).length).to.be.greaterThan(0);
  });

  it('refuses other roles (403) and no key (401)', async () => {
    for (const role of ['records-officer', 'dpo', 'research-officer'] as const) {
      const res = await post(ROLE_KEYS[role], { recipient: operator.publicKey });
      expect(res.status, role).to.equal(403);
    }
    expect((await post(undefined, { recipient: operator.publicKey })).status).to.equal(401);
  });

  it('refuses a recipient that is not an X25519 public key, and unknown fields, with their codes', async () => {
    const malformed = await post(ROLE_KEYS.admin, { recipient: 'not-a-key' });
    expect(malformed.status).to.equal(400);
    expect(((await malformed.json()) as { error: { code: string } }).error.code).to.equal('INVALID_REQUEST');
    const extra = await post(ROLE_KEYS.admin, { recipient: operator.publicKey, passphrase: 'x' });
    expect(extra.status).to.equal(400);
    expect(((await extra.json()) as { error: { code: string } }).error.code).to.equal('UNKNOWN_FIELD');
  });
});
