/**
 * The audit after a fault: what the clients were told (a {@link Workload}) held against what the
 * ledger holds, read through Fabric's own `peer` CLI as an organisation's admin — nothing of
 * medprov's gateway or client code is on that path — and against what the gateways' event-fed
 * state (anchor index, anchor log, consent feed) says once it has caught up.
 *
 * @module
 */
import { common } from '@hyperledger/fabric-protos';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chainInfo } from '../../../network/src/channel';
import { ordererFlags, peerAsAdmin } from '../../../network/src/fabric-cli';
import type { Network } from '../../../network/src/network';
import type { RecordAnchor } from '../../../chaincode/src/lib/record-model';
import { SseClient } from '../../integration/network/support/consent';
import type { GatewayAccess } from '../../integration/network/support/gateway-http';
import { journalRecords } from './gateway-env';
import type { SentRequest, Workload } from './workload';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The figures the closing note gives per fault. */
export interface AuditReport {
  /** Requests the gateways acknowledged (202, 200, 201). */
  readonly acknowledged: number;
  /** Of those, the ones whose effect the ledger holds. */
  readonly committed: number;
  /** Effects the ledger holds more often than the clients asked for them. */
  readonly duplicated: number;
  /** Acknowledged requests the ledger does not hold. */
  readonly lost: number;
  /** Requests answered 503 or never connected (fire-once client): all must be absent. */
  readonly unacknowledged: number;
  readonly unacknowledgedPresent: number;
  /** No answer and no retry (fire-once), or still failing at the client's deadline: reported, either way allowed. */
  readonly inDoubt: number;
  /** Acknowledged, then refused by the ledger (the journal's outcome): none expected. */
  readonly rejected: number;
  /** Every disagreement, in words; empty when the audit passes. */
  readonly problems: string[];
}

/** `peer chaincode query` of the medprov chaincode as `orgName`'s admin; the answer parsed. */
async function query<T>(network: Network, orgName: string, args: readonly string[]): Promise<T> {
  const out = await peerAsAdmin(network, network.organisation(orgName), ['chaincode', 'query', '-C', network.channel, '-n', network.chaincodeName, '-c', JSON.stringify({ Args: args })]);
  return JSON.parse(out) as T;
}

/** Polls the journal's status of every acknowledged 202 until committed or rejected; returns the rejected ones. */
export async function settle(workload: Workload, hospital: GatewayAccess, withinMs = 300_000): Promise<SentRequest[]> {
  const deadline = Date.now() + withinMs;
  const pending = workload.sent.filter((s) => s.ending === 'acknowledged' && s.requestId);
  const rejected: SentRequest[] = [];
  for (const s of pending) {
    for (;;) {
      let state: string | undefined;
      let blockNumber: string | undefined;
      try {
        const res = await fetch(`${hospital.url}/v1/requests/${encodeURIComponent(s.requestId!)}`, { headers: { authorization: `Bearer ${hospital.key}` } });
        const body = (await res.json()) as { state?: string; code?: string; blockNumber?: string };
        state = body.state;
        blockNumber = body.blockNumber;
        if (state === 'rejected') s.code = body.code;
      } catch {
        // the gateway is still coming back
      }
      if (state === 'committed') {
        s.blockNumber = blockNumber;
        break;
      }
      if (state === 'rejected') {
        rejected.push(s);
        break;
      }
      if (Date.now() > deadline) throw new Error(`request ${s.requestId} (${s.kind}) was acknowledged but neither committed nor rejected within ${withinMs / 1000} s`);
      await sleep(250);
    }
  }
  return rejected;
}

/** What the ledger must hold of each record the workload named: its versions' documents, in order, and how sure we are. */
function expectations(workload: Workload): Map<string, { docs: string[]; certain: boolean; unacknowledged: boolean; amendInDoubt?: string }> {
  const out = new Map<string, { docs: string[]; certain: boolean; unacknowledged: boolean; amendInDoubt?: string }>();
  for (const s of workload.sent) {
    if (s.kind !== 'anchor' && s.kind !== 'batch') continue;
    for (const r of s.records) out.set(r.recordId, { docs: s.ending === 'acknowledged' ? [r.docHash] : [], certain: s.ending !== 'in-doubt', unacknowledged: s.ending === 'unacknowledged' });
  }
  for (const s of workload.sent) {
    if (s.kind !== 'amend') continue;
    const r = s.records[0];
    const e = out.get(r.recordId);
    if (!e) continue;
    if (s.ending === 'acknowledged') e.docs.push(r.docHash);
    else if (s.ending === 'in-doubt') e.amendInDoubt = r.docHash;
  }
  return out;
}

/**
 * Holds the ledger (through the `peer` CLI as `asOrg`'s admin) to what the clients were told:
 * every acknowledged anchor, batch and amendment is there exactly once, in order; nothing
 * unacknowledged is; every acknowledged grant is there, revoked when its revocation was
 * acknowledged. Call after {@link settle}.
 */
export async function auditLedger(network: Network, workload: Workload, issuer: string, rejected: readonly SentRequest[], asOrg = 'Insurer'): Promise<AuditReport> {
  const problems: string[] = [];
  const expected = expectations(workload);
  const ids = [...expected.keys()];
  const histories: Record<string, RecordAnchor[]> = {};
  for (let i = 0; i < ids.length; i += 400) Object.assign(histories, await query<Record<string, RecordAnchor[]>>(network, asOrg, ['Records:recordHistories', issuer, JSON.stringify(ids.slice(i, i + 400))]));

  let acknowledged = 0;
  let committed = 0;
  let duplicated = 0;
  let lost = 0;
  let unacknowledged = 0;
  let unacknowledgedPresent = 0;
  let inDoubt = 0;
  const rejectedIds = new Set(rejected.flatMap((s) => s.records.map((r) => `${s.kind}:${r.recordId}`)));
  for (const s of workload.sent) {
    if (s.ending === 'in-doubt') inDoubt += 1;
    if (s.ending === 'unacknowledged') unacknowledged += 1;
    if (s.ending === 'acknowledged') acknowledged += 1;
  }
  // Records: versions on the ledger against the acknowledged anchor + amendments.
  const anchorsCommitted = new Set<SentRequest>();
  for (const [recordId, e] of expected) {
    const onLedger = (histories[recordId] ?? []).map((a) => a.docHash);
    const sender = workload.sent.find((s) => (s.kind === 'anchor' || s.kind === 'batch') && s.records.some((r) => r.recordId === recordId))!;
    if (e.unacknowledged) {
      if (onLedger.length > 0) {
        unacknowledgedPresent += 1;
        problems.push(`record ${recordId} was never acknowledged (${sender.status} ${sender.code ?? ''}) but the ledger holds it`);
      }
      continue;
    }
    if (!e.certain) {
      if (onLedger.length > 1 + (e.amendInDoubt ? 1 : 0)) problems.push(`record ${recordId} (in doubt) has ${onLedger.length} versions`);
      continue;
    }
    const allowed = e.amendInDoubt && onLedger.length === e.docs.length + 1 ? [...e.docs, e.amendInDoubt] : e.docs;
    const same = onLedger.length === allowed.length && onLedger.every((d, i) => d === allowed[i]);
    if (same) {
      if (e.docs.length > 0) anchorsCommitted.add(sender);
      continue;
    }
    if (rejectedIds.has(`${sender.kind}:${recordId}`)) continue; // counted as rejected below
    if (onLedger.length > allowed.length) {
      duplicated += 1;
      problems.push(`record ${recordId}: the ledger holds ${onLedger.length} versions ${JSON.stringify(onLedger)}, the clients were acknowledged ${allowed.length} ${JSON.stringify(allowed)}`);
    } else {
      lost += 1;
      problems.push(`record ${recordId}: the ledger holds ${JSON.stringify(onLedger)}, the clients were acknowledged ${JSON.stringify(allowed)}`);
    }
  }
  const amendsCommitted = workload.sent.filter((s) => s.kind === 'amend' && s.ending === 'acknowledged' && (histories[s.records[0].recordId] ?? []).some((a) => a.docHash === s.records[0].docHash));
  committed += anchorsCommitted.size + amendsCommitted.length;
  for (const s of rejected) problems.push(`${s.kind} ${s.records[0]?.recordId} was acknowledged, then refused by the ledger: ${s.code}`);

  // Consent: the patients' grants on the ledger against the acknowledged grants and revocations.
  const patients = [...new Set(workload.sent.filter((s) => s.patient).map((s) => s.patient!))];
  for (const patient of patients) {
    const grants = await query<{ grantId: string; status: string }[]>(network, asOrg, ['Consent:listGrants', patient.hospital, patient.patientRef]);
    const byId = new Map(grants.map((g) => [g.grantId, g]));
    if (byId.size !== grants.length) {
      duplicated += grants.length - byId.size;
      problems.push(`patient ${patient.patientRef}: the ledger lists a grant twice`);
    }
    const mine = workload.sent.filter((s) => s.patient === patient);
    const revoked = new Set(mine.filter((s) => s.kind === 'revoke' && s.ending === 'acknowledged').map((s) => s.grantId));
    for (const s of mine.filter((x) => x.ending === 'acknowledged')) {
      const g = byId.get(s.grantId!);
      if (!g) {
        lost += 1;
        problems.push(`${s.kind} of grant ${s.grantId} was acknowledged but the ledger has no such grant`);
      } else if (s.kind === 'revoke' && g.status !== 'revoked') {
        lost += 1;
        problems.push(`the revocation of grant ${s.grantId} was acknowledged but the grant is ${g.status}`);
      } else if (s.kind === 'grant' && !revoked.has(s.grantId) && g.status !== 'active') {
        problems.push(`grant ${s.grantId} is ${g.status}; no revocation of it was acknowledged`);
      } else {
        committed += 1;
      }
    }
    const possible = mine.filter((s) => s.kind === 'grant' && (s.ending === 'acknowledged' || s.ending === 'in-doubt')).length;
    if (grants.length > possible) {
      duplicated += grants.length - possible;
      problems.push(`patient ${patient.patientRef}: the ledger holds ${grants.length} grants, the clients sent at most ${possible} that could have been taken`);
    }
  }
  return { acknowledged, committed, duplicated, lost, unacknowledged, unacknowledgedPresent, inDoubt, rejected: rejected.length, problems };
}

/**
 * Waits until every peer has the same height, then requires the same last-block hash on all of
 * them (a restarted peer's chain equals the others'). Returns the common height.
 */
export async function samePeerChains(network: Network, withinMs = 120_000): Promise<number> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const infos = await Promise.all(network.peers.map(async (p) => ({ peer: p.name, ...(await chainInfo(network, p).catch(() => ({ height: -1, currentBlockHash: '' }))) })));
    if (infos.every((i) => i.height === infos[0].height && i.height > 0)) {
      const hashes = new Set(infos.map((i) => i.currentBlockHash));
      if (hashes.size !== 1) throw new Error(`the peers have the same height ${infos[0].height} but different last blocks: ${JSON.stringify(infos)}`);
      return infos[0].height;
    }
    if (Date.now() > deadline) throw new Error(`the peers did not reach the same height within ${withinMs / 1000} s: ${JSON.stringify(infos)}`);
    await sleep(500);
  }
}

/** The gateway's /healthz (undefined while it does not answer). */
export async function healthOf(gw: GatewayAccess): Promise<any> {
  try {
    const res = await fetch(`${gw.url}/healthz`);
    return await res.json();
  } catch {
    return undefined;
  }
}

/**
 * The gateways' event-fed state has caught up with the ledger of `height` blocks and agrees with
 * it: each gateway's anchor index has reached the last block; every acknowledged document
 * verifies at the Insurer (the latest version ORIGINAL, an amended one's first SUPERSEDED); the
 * Hospital's anchor log holds every acknowledged anchor; the Insurer's consent feed carries every
 * acknowledged grant and revocation exactly once.
 */
export async function auditEventFed(workload: Workload, gws: { hospital: GatewayAccess; insurer: GatewayAccess; claims: GatewayAccess }, height: number, withinMs = 180_000): Promise<string[]> {
  const problems: string[] = [];
  const deadline = Date.now() + withinMs;
  // The index follows the chaincode's anchor events: it has caught up once it holds the last block with an acknowledged anchor.
  const lastAnchorBlock = workload.sent.reduce((max, s) => (s.blockNumber !== undefined && BigInt(s.blockNumber) > max ? BigInt(s.blockNumber) : max), 0n);
  const answeredByPeer: Record<string, number> = {};
  for (const [name, gw] of Object.entries({ hospital: gws.hospital, insurer: gws.insurer })) {
    for (;;) {
      const h = await healthOf(gw);
      const at = h?.anchorIndex?.checkpoint?.blockNumber;
      if (h?.anchorIndex?.ready && at !== undefined && BigInt(at) >= lastAnchorBlock) {
        answeredByPeer[name] = h.anchorIndex.answered.peer;
        break;
      }
      if (Date.now() > deadline) {
        problems.push(`the ${name} gateway's anchor index did not reach block ${lastAnchorBlock} (the ledger's height is ${height}): ${JSON.stringify(h?.anchorIndex)}`);
        break;
      }
      await sleep(500);
    }
  }
  const versions = new Map<string, string[]>();
  for (const s of workload.sent) {
    if (s.ending !== 'acknowledged' || s.kind === 'grant' || s.kind === 'revoke') continue;
    for (const r of s.records) versions.set(r.recordId, [...(versions.get(r.recordId) ?? []), r.docHash]);
  }
  const verify = async (gw: GatewayAccess, docHash: string): Promise<string | undefined> => {
    const res = await fetch(`${gw.url}/v1/verifications`, { method: 'POST', headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ docHash }) });
    const body = (await res.json()) as { verdict?: string };
    return body.verdict;
  };
  for (const [recordId, docs] of versions) {
    for (const [i, docHash] of docs.entries()) {
      const want = i === docs.length - 1 ? 'ORIGINAL' : 'SUPERSEDED';
      const got = await verify(gws.insurer, docHash);
      if (got !== want) problems.push(`record ${recordId} version ${i + 1}: the Insurer verifies ${got}, the ledger says ${want}`);
    }
    const receipt = await fetch(`${gws.hospital.url}/v1/receipts/${docs[0]}`, { headers: { authorization: `Bearer ${gws.hospital.key}` } });
    const body = (await receipt.json()) as { error?: { code?: string } };
    if (receipt.status !== 200 && body.error?.code !== 'RECEIPT_PENDING') problems.push(`record ${recordId}: the Hospital's anchor log answers ${receipt.status} ${body.error?.code} for its anchor`);
  }
  // Every verdict came from the index: none had to go to the peer.
  const after = await healthOf(gws.insurer);
  if (answeredByPeer.insurer !== undefined && after?.anchorIndex?.answered?.peer !== answeredByPeer.insurer) {
    problems.push(`the Insurer's index could not answer ${after?.anchorIndex?.answered?.peer - answeredByPeer.insurer} of the acknowledged documents: its peer did`);
  }
  // The consent feed, from its first event.
  const wanted = new Set(workload.sent.filter((s) => (s.kind === 'grant' || s.kind === 'revoke') && s.ending === 'acknowledged').map((s) => `${s.kind === 'grant' ? 'consent.granted' : 'consent.revoked'} ${s.grantId}`));
  const stream = await SseClient.connect(`${gws.claims.url}/v1/consents/events?after=0`, { authorization: `Bearer ${gws.claims.key}` });
  try {
    const seen = () => stream.events.map((e) => `${e.event} ${(JSON.parse(e.data) as { change: { grantId: string } }).change.grantId}`).filter((k) => wanted.has(k));
    await stream.until(() => new Set(seen()).size === wanted.size, Math.max(5_000, deadline - Date.now()));
    const got = seen();
    const distinct = new Set(got);
    for (const w of wanted) if (!distinct.has(w)) problems.push(`the Insurer's consent feed never carried ${w}`);
    if (got.length !== distinct.size) problems.push(`the Insurer's consent feed carried ${got.length - distinct.size} acknowledged changes twice`);
  } finally {
    stream.close();
  }
  return problems;
}

/** DER length octets. */
function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const der = (tag: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);

/**
 * A block header's hash as Fabric computes it (the SHA-256 of the ASN.1 DER sequence of number,
 * previous hash and data hash): what `peer channel getinfo` prints as `currentBlockHash`.
 */
export function blockHeaderHash(number: bigint, previousHash: Uint8Array, dataHash: Uint8Array): string {
  let hex = number.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let n = Buffer.from(hex, 'hex');
  if (n[0] & 0x80) n = Buffer.concat([Buffer.from([0]), n]);
  const seq = der(0x30, Buffer.concat([der(0x02, n), der(0x04, Buffer.from(previousHash)), der(0x04, Buffer.from(dataHash))]));
  return createHash('sha256').update(seq).digest('base64');
}

/**
 * Block `number` as every orderer serves it (`peer channel fetch <n> -o <orderer>`, as `asOrg`'s
 * admin): its header hash, which must equal the peers' — a restarted orderer's chain is the others'.
 */
export async function ordererBlockHashes(network: Network, number: number, asOrg = 'Hospital', withinMs = 60_000): Promise<Record<string, string>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medprov-fetch-'));
  const hashes: Record<string, string> = {};
  try {
    for (const o of network.orderers) {
      const file = path.join(dir, `${o.name}.block`);
      const deadline = Date.now() + withinMs;
      for (;;) {
        try {
          await peerAsAdmin(network, network.organisation(asOrg), ['channel', 'fetch', String(number), file, '-c', network.channel, ...ordererFlags(network, o)]);
          break;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`${o.name} did not serve block ${number} within ${withinMs / 1000} s: ${(err as Error).message}`);
          await sleep(500);
        }
      }
      const header = common.Block.deserializeBinary(readFileSync(file)).getHeader();
      if (!header) throw new Error(`${o.name} served block ${number} without a header`);
      hashes[o.name] = blockHeaderHash(BigInt(header.getNumber()), header.getPreviousHash_asU8(), header.getDataHash_asU8());
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return hashes;
}

/**
 * How often each of the workload's records was accepted into an organisation's acceptance journal
 * (read from the file itself), as `anchor:<recordId>` / `amend:<recordId>`: a request the client
 * sent again after a crash must find its first acceptance (the Idempotency-Key), not make a second.
 */
export function journalAcceptances(network: Network, orgName: string, tag: string): Map<string, number> {
  const counts = new Map<string, number>();
  const note = (kind: string, value: unknown): void => {
    if (Array.isArray(value)) for (const v of value) note(kind, v);
    else if (value && typeof value === 'object' && typeof (value as { recordId?: unknown }).recordId === 'string') {
      const recordId = (value as { recordId: string }).recordId;
      if (recordId.startsWith(`${tag}-`)) counts.set(`${kind}:${recordId}`, (counts.get(`${kind}:${recordId}`) ?? 0) + 1);
    }
  };
  for (const r of journalRecords(network, orgName)) {
    if (r.type !== 'accept') continue;
    const kind = r.kind === 'amendRecord' ? 'amend' : 'anchor';
    for (const arg of r.args ?? []) {
      try {
        note(kind, JSON.parse(arg));
      } catch {
        // a plain argument (an issuer, a reason)
      }
    }
  }
  return counts;
}
