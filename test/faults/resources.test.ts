import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import * as http from 'node:http';
import { createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { queryChaincode } from '../../network/src/chaincode';
import { baseEnv } from '../../network/src/fabric-cli';
import { gatewaySpec } from '../../network/src/gateways';
import { logTail, runningPid, startDaemon, stopDaemon, waitUntil } from '../../network/src/processes';
import { call, sleep, write, type GatewayAccess } from '../integration/network/support/gateway-http';
import { stopTestNetwork, testNetwork, type TestNetwork } from '../integration/network/test-network';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const CATEGORY = 'loinc:11506-3';

/** A free TCP port on this host (the kernel's choice). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Fills the file system holding `file` until write(2) says ENOSPC (down to the last byte of the last page). Returns the bytes written. */
function fillDisk(file: string): number {
  const fd = openSync(file, 'a');
  let written = 0;
  try {
    for (const chunk of [1 << 20, 1 << 16, 1 << 12, 1 << 9, 1]) {
      const bytes = Buffer.alloc(chunk, 0x5a);
      for (;;) {
        try {
          written += writeSync(fd, bytes);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

/** A client holding an upload open: the head and the start of a multipart body, then a few bytes a second. */
interface SlowUpload {
  request: http.ClientRequest;
  /** The answer, once there is one. */
  answer?: { status: number; code?: string };
  /** The connection closed (by either side). */
  closed: boolean;
}

/**
 * A multipart upload of one document on a connection of its own (no pooled keep-alive socket the
 * server may be closing as it is reused); `onAnswer` gets the status and the error code, if any.
 */
function multipartRequest(url: string, key: string, route: string, boundary: string, length: number | undefined, onAnswer: (answer: { status: number; code?: string }) => void): http.ClientRequest {
  const { hostname, port } = new URL(url);
  const request = http.request({
    host: hostname,
    port: Number(port),
    method: 'POST',
    path: route,
    agent: false,
    headers: {
      authorization: `Bearer ${key}`,
      'content-type': `multipart/form-data; boundary=${boundary}`,
      ...(length === undefined ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(length) }),
    },
  });
  request.on('response', (res) => {
    let body = '';
    res.on('data', (d: Buffer) => (body += d.toString('utf8')));
    res.on('end', () => {
      let code: string | undefined;
      try {
        code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
      } catch {
        code = `not JSON: ${body.slice(0, 80)}`;
      }
      onAnswer({ status: res.statusCode ?? 0, ...(code ? { code } : {}) });
    });
  });
  return request;
}

const documentPart = (boundary: string, name: string): string => `--${boundary}\r\nContent-Disposition: form-data; name="document"; filename="${name}"\r\nContent-Type: text/plain\r\n\r\n`;

function startSlowUpload(url: string, key: string, route: string, i: number): SlowUpload {
  const boundary = `----slow${i}`;
  const slow = { closed: false } as SlowUpload;
  slow.request = multipartRequest(url, key, route, boundary, undefined, (answer) => (slow.answer = answer));
  slow.request.on('error', () => (slow.closed = true));
  slow.request.on('close', () => (slow.closed = true));
  slow.request.write(documentPart(boundary, `slow-${i}.txt`));
  return slow;
}

/** One whole upload of `text` to POST /v1/documents/hash. */
function uploadOnce(url: string, key: string, text: string): Promise<{ status: number; code?: string }> {
  const boundary = '----once';
  const body = Buffer.from(`${documentPart(boundary, 'd.txt')}${text}\r\n--${boundary}--\r\n`);
  return new Promise((resolve, reject) => {
    const request = multipartRequest(url, key, '/v1/documents/hash', boundary, body.length, resolve);
    request.on('error', reject);
    request.end(body);
  });
}

/**
 * Issue 15, resource limits on the real network.
 *
 * A full disk: a second Hospital gateway process (the network's own gateway program, the
 * Hospital's Fabric identity and users, started like the network starts its gateways) keeps its
 * state folder on a small tmpfs mounted for the test; a filler file takes every byte left. Writes
 * that need the disk then answer 503 STORAGE_FULL with a sentence; reads and verifications still
 * work; requests acknowledged (202) before are not lost (they commit, read back through the
 * `peer` CLI); the process stays up; once the filler is deleted, writes are accepted again
 * without a restart.
 */
describe('real network: resource limits (issue 15)', function () {
  this.timeout(900_000);
  let net: TestNetwork;

  after(async () => {
    await stopTestNetwork();
  });

  describe('a full disk under the gateway state folder', () => {
    let work: string;
    let mount: string;
    let mounted = false;
    let pidFile: string;
    let logFile: string;
    let gw: GatewayAccess;
    let hospitalMsp: string;

    before(async function () {
      if (process.getuid?.() !== 0) {
        throw new Error('this test mounts a small tmpfs to fill it: it must run as root (it is not skipped: a full disk must be tested)');
      }
      net = await testNetwork();
      const network = net.network;
      const org = network.organisation('Hospital');
      hospitalMsp = org.mspId;
      work = mkdtempSync(path.join(os.tmpdir(), 'medprov-diskfull-'));
      mount = path.join(work, 'state');
      mkdirSync(mount);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', mount]);
      mounted = true;
      // The gateway's folder on the tmpfs: the Hospital's users (same API keys), a new key store, journal and indexes.
      copyFileSync(path.join(network.gatewayDir(org), 'users.json'), path.join(mount, 'users.json'));
      const settings = network.gatewaySettings('Hospital');
      const port = await freePort();
      const configFile = path.join(work, 'gateway.json');
      writeFileSync(configFile, JSON.stringify({ org: settings.org, host: settings.host, port, dir: mount, fabric: settings.fabric }, null, 2));
      const spec = gatewaySpec(network, org, false);
      pidFile = path.join(work, 'gateway.pid');
      logFile = path.join(work, 'gateway.log');
      startDaemon(
        {
          ...spec,
          name: 'gateway-hospital-diskfull',
          env: {
            ...baseEnv(),
            MEDPROV_GATEWAY_CONFIG: configFile,
            MEDPROV_MASTER_KEY: spec.env.MEDPROV_MASTER_KEY,
            MEDPROV_CREATE_KEY_STORE: '1',
            // No EVM chain description there: this extra gateway writes no checkpoints (the Hospital's own does).
            MEDPROV_STATE_DIR: mount,
            MEDPROV_LOG_LEVEL: 'info',
          },
        },
        { pidFile, logFile },
      );
      gw = { url: `http://${settings.host}:${port}`, key: net.keys.orgs.Hospital.keys['records-officer'] };
      const ready = await waitUntil(async () => {
        if (runningPid(pidFile) === undefined) return true;
        const h = await fetch(`${gw.url}/healthz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.json() as Promise<{ ledger?: { ready?: boolean } }>).catch(() => undefined);
        return h?.ledger?.ready === true;
      }, 180_000, 500);
      if (!ready || runningPid(pidFile) === undefined) throw new Error(`the extra Hospital gateway did not come up; the end of ${logFile}:\n${logTail(logFile, 30)}`);
    });

    after(async () => {
      if (pidFile) await stopDaemon(pidFile);
      if (mounted) execFileSync('umount', ['-l', mount]);
      if (work && !process.env.MEDPROV_TEST_KEEP_STATE) rmSync(work, { recursive: true, force: true });
    });

    it('answers 503 STORAGE_FULL for writes, serves reads and verifications, loses no acknowledged request, and accepts again once space is freed', async () => {
      const run = randomBytes(3).toString('hex');
      const pid = runningPid(pidFile);
      const anchorBody = (i: string, patient = `MRN-df-${run}`) => ({ recordId: `df-${run}-${i}`, docHash: sha(`disk full ${run} ${i}`), patientId: patient, category: CATEGORY });
      // one anchor committed before anything, with this patient's key made (so later anchors need only the journal)
      const first = await call(gw, 'POST', '/v1/records', anchorBody('0'), { prefer: 'wait=20' });
      expect([201, 202], first.text).to.include(first.status);

      // A stream of anchors acknowledged while the disk fills up.
      const acknowledged = new Map<string, string>(); // request id → record id
      const acknowledge = (i: string, a: { status: number; location: string | null }) => {
        // Location: /v1/requests/{id}, on a 202 and on a 201 alike
        if ((a.status === 202 || a.status === 201) && a.location) acknowledged.set(a.location.split('/').pop()!, `df-${run}-${i}`);
      };
      const early = await Promise.all(Array.from({ length: 20 }, (_, i) => call(gw, 'POST', '/v1/records', anchorBody(`a${i}`))));
      early.forEach((a, i) => {
        expect([201, 202], a.text).to.include(a.status);
        acknowledge(`a${i}`, a);
      });
      const filled = fillDisk(path.join(mount, 'filler'));
      console.log(`      disk full: ${filled} bytes of filler; ${acknowledged.size} anchors acknowledged just before`);

      // Writes: a frame may still fit in the journal file's last page; then every write is refused.
      const refusals: { status: number; body: any }[] = [];
      for (let i = 0; i < 200 && refusals.length < 5; i++) {
        const a = await call(gw, 'POST', '/v1/records', anchorBody(`f${i}`));
        if (a.status === 503) refusals.push(a);
        else {
          expect([201, 202], a.text).to.include(a.status);
          acknowledge(`f${i}`, a);
        }
      }
      expect(refusals.length, 'writes refused once the disk is full').to.equal(5);
      for (const r of refusals) {
        expect(r.body.error.code).to.equal('STORAGE_FULL');
        expect(r.body.error.message).to.match(/^\S.*\s.*\.$/);
        expect(r.body.error.requestId).to.be.a('string');
      }
      // a batch, and an anchor for a new patient (a new key in the key store) are refused the same way
      const batch = await call(gw, 'POST', '/v1/records/batch', { records: [anchorBody('b1'), anchorBody('b2')] });
      expect(batch.status, batch.text).to.equal(503);
      expect(batch.body.error.code).to.equal('STORAGE_FULL');
      const newPatient = await call(gw, 'POST', '/v1/records', anchorBody('np', `MRN-df-new-${run}`));
      expect(newPatient.status, newPatient.text).to.equal(503);
      expect(newPatient.body.error.code).to.equal('STORAGE_FULL');

      // Reads and verifications still work.
      const verify = await call(gw, 'POST', '/v1/verifications', { docHash: sha(`disk full ${run} 0`) });
      expect(verify.status, verify.text).to.equal(200);
      const read = await call(gw, 'GET', `/v1/records/${hospitalMsp}/df-${run}-0`);
      expect(read.status, read.text).to.equal(200);
      const health = await call(gw, 'GET', '/healthz');
      expect(health.status).to.equal(200);
      // the requests acknowledged before still commit (their outcome waits for space, the ledger does not)
      await sleep(3_000);
      expect(runningPid(pidFile), 'the gateway process is still the same').to.equal(pid);

      // Space freed: writes are accepted again, without a restart.
      rmSync(path.join(mount, 'filler'));
      const again = await call(gw, 'POST', '/v1/records', anchorBody('after'), { prefer: 'wait=20' });
      expect([201, 202], again.text).to.include(again.status);
      acknowledge('after', again);

      // Every acknowledged request commits, exactly once, read back through Fabric's own peer CLI.
      const states = new Map<string, string>();
      const deadline = Date.now() + 300_000;
      for (const id of acknowledged.keys()) {
        for (;;) {
          const s = await call(gw, 'GET', `/v1/requests/${id}`);
          if (s.body?.state === 'committed' || s.body?.state === 'rejected') {
            states.set(id, s.body.state);
            break;
          }
          if (Date.now() > deadline) throw new Error(`request ${id} is still ${s.body?.state ?? s.status} after 5 minutes`);
          await sleep(500);
        }
      }
      expect([...states.values()].filter((s) => s !== 'committed'), 'acknowledged requests not committed').to.deep.equal([]);
      const recordIds = [...acknowledged.values()];
      const histories = JSON.parse(await queryChaincode(net.network, 'Insurer', 'Records:recordHistories', [hospitalMsp, JSON.stringify(recordIds)])) as Record<string, { docHash: string }[]>;
      const missing = recordIds.filter((r) => (histories[r] ?? []).length !== 1);
      console.log(`      disk full: ${acknowledged.size} acknowledged, ${recordIds.length - missing.length} on the ledger exactly once, ${refusals.length + 2} writes refused with STORAGE_FULL`);
      expect(missing, 'acknowledged records not on the ledger exactly once').to.deep.equal([]);
      expect(runningPid(pidFile), 'the gateway process is still the same').to.equal(pid);
    });
  });
  describe('a slow client holding many uploads open', () => {
    const slow: SlowUpload[] = [];
    const held: http.ClientRequest[] = [];
    let trickle: NodeJS.Timeout | undefined;
    after(() => {
      clearInterval(trickle);
      for (const s of slow) s.request.destroy();
      for (const r of held) r.destroy();
    });

    it("200 uploads trickling a few bytes a second: the client's excess is refused at once (429 TOO_MANY_UPLOADS), and everyone else's verifications, uploads and anchors go through meanwhile", async () => {
      net = await testNetwork();
      const hospital = net.keys.orgs.Hospital;
      const slowKey = hospital.keys.dpo;
      for (let i = 0; i < 200; i++) slow.push(startSlowUpload(hospital.url, slowKey, i % 2 === 0 ? '/v1/documents/hash' : '/v1/verifications', i));
      // a few bytes a second on every upload still open
      trickle = setInterval(() => {
        for (const s of slow) if (!s.closed && !s.answer) s.request.write('abc');
      }, 1_000);
      // the slow client's uploads beyond its cap are answered at once
      await waitUntil(() => slow.filter((s) => s.answer).length >= 200 - 32, 120_000, 200);
      const refused = slow.filter((s) => s.answer);
      expect(refused.map((s) => `${s.answer!.status} ${s.answer!.code}`).filter((a) => a !== '429 TOO_MANY_UPLOADS'), 'answers to the slow uploads').to.deep.equal([]);

      // Meanwhile, other clients (other API users of the same gateway) are served.
      const admin: GatewayAccess = { url: hospital.url, key: hospital.keys.admin };
      const officer: GatewayAccess = { url: hospital.url, key: hospital.keys['records-officer'] };
      const run = randomBytes(3).toString('hex');
      const outcomes: string[] = [];
      const form = (text: string, fields: Record<string, string> = {}) => {
        const f = new FormData();
        for (const [k, v] of Object.entries(fields)) f.append(k, v);
        f.append('document', new Blob([text]), 'doc.txt');
        return f;
      };
      for (let i = 0; i < 5; i++) {
        const text = `slow clients ${run} ${i}`;
        const anchored = await write(officer, 'POST', '/v1/records', { recordId: `slow-${run}-${i}`, docHash: sha(text), patientId: `MRN-slow-${run}`, category: CATEGORY });
        outcomes.push(`anchor ${anchored.status}`);
        const uploaded = await write(officer, 'POST', '/v1/records', form(`${text} uploaded`, { recordId: `slow-${run}-${i}-u`, patientId: `MRN-slow-${run}`, category: CATEGORY }));
        outcomes.push(`anchor upload ${uploaded.status}`);
        outcomes.push(`verify ${(await call(admin, 'POST', '/v1/verifications', { docHash: sha(text) })).status}`);
        outcomes.push(`verify upload ${(await call(admin, 'POST', '/v1/verifications', form(text))).status}`);
        outcomes.push(`hash ${(await call(admin, 'POST', '/v1/documents/hash', form(text))).status}`);
        outcomes.push(`insurer verify ${(await call({ url: net.keys.orgs.Insurer.url, key: net.keys.orgs.Insurer.keys.admin }, 'POST', '/v1/verifications', { docHash: sha(text) })).status}`);
      }
      const stillOpen = slow.filter((s) => !s.answer && !s.closed);
      console.log(`      slow clients: 200 slow uploads, ${refused.length} refused at once (429 TOO_MANY_UPLOADS), ${stillOpen.length} still trickling; other clients: ${outcomes.length} requests, ${outcomes.filter((o) => !/ 20[01]$/.test(o)).length} not served`);
      expect(outcomes.filter((o) => !/ 20[01]$/.test(o)), 'requests of other clients not served').to.deep.equal([]);
      expect(stillOpen.length, 'the slow uploads still held open').to.equal(32);
      // the slow client's next upload is still refused, at once
      expect(await uploadOnce(hospital.url, slowKey, 'one more')).to.deep.equal({ status: 429, code: 'TOO_MANY_UPLOADS' });

      // The slow client gives up: its slots come back.
      clearInterval(trickle);
      for (const s of slow) s.request.destroy();
      let again: { status: number; code?: string } | undefined;
      await waitUntil(async () => (again = await uploadOnce(hospital.url, slowKey, 'after')).status === 200, 60_000, 250);
      expect(again).to.deep.equal({ status: 200 });
    });

    it('an upload that goes silent is answered 408 UPLOAD_TIMEOUT (MEDPROV_UPLOAD_IDLE_TIMEOUT_MS) and its connection closed', async () => {
      const hospital = net.keys.orgs.Hospital;
      clearInterval(trickle); // (this one sends nothing after its first bytes)
      const silent = startSlowUpload(hospital.url, hospital.keys['research-officer'], '/v1/verifications', 1_000);
      held.push(silent.request);
      await waitUntil(() => silent.answer !== undefined && silent.closed, 180_000, 250);
      expect(silent.answer).to.deep.equal({ status: 408, code: 'UPLOAD_TIMEOUT' });
      expect(silent.closed).to.equal(true);
    });
  });
});
