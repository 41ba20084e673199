/**
 * The load the fault tests kill processes under: concurrent clients of the real gateways that
 * anchor single records and batches, amend what they anchored, grant and revoke consent as
 * patients, and verify at another organisation — and that remember what each request was
 * answered, so that an audit afterwards can hold the system to it.
 *
 * Every write is what a careful client sends: an `Idempotency-Key` per logical request (a
 * patient's signed grant is its own key), and on no answer, a 429 or a 5xx the same request again
 * with the same key until the gateway acknowledges it (202, or 200/201) or refuses it (4xx). So a
 * gateway killed after its journal made a request durable but before it answered must, on the
 * retry, answer with the same acceptance, not a second one.
 *
 * One loop does not retry ("fire once"): what it was refused with a 503, or could not even
 * connect for, the gateway never acknowledged, and the audit requires it to be absent from the
 * ledger. A request whose connection broke after it was sent is "in doubt" for that loop and is
 * only counted.
 *
 * @module
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Patient } from '../../integration/network/support/consent';
import type { GatewayAccess } from '../../integration/network/support/gateway-http';

export const DISCHARGE = 'loinc:18842-5';
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How a request ended for its client. */
export type Ending =
  /** 202 (the journal holds it) or 200/201 (done). */
  | 'acknowledged'
  /** A 4xx: the gateway refused it; the client gives up. */
  | 'refused'
  /** Fire-once loop: a 503 or no connection; never acknowledged. */
  | 'unacknowledged'
  /** Fire-once loop: the connection broke after sending; or any client past its deadline. */
  | 'in-doubt';

export interface SentRequest {
  readonly kind: 'anchor' | 'batch' | 'amend' | 'grant' | 'revoke';
  /** The records this request anchors or amends (one, or a batch's). */
  readonly records: readonly { recordId: string; docHash: string }[];
  /** The grant this request creates or revokes. */
  grantId?: string;
  patient?: Patient;
  ending?: Ending;
  /** The last HTTP status (0: no answer). */
  status?: number;
  code?: string;
  /** The journal's request id and the gateway that holds it (202 answers). */
  requestId?: string;
  /** The block that committed it, once known (the journal's status, or the synchronous answer). */
  blockNumber?: string;
  attempts: number;
  /** Answers that were retried: a 5xx or 429 by code, or `no answer`. */
  readonly retriedOn: string[];
}

export interface WorkloadOptions {
  /** Record ids start with it: this run's records are told apart from every other run's. */
  readonly tag: string;
  readonly hospital: GatewayAccess;
  readonly insurer: GatewayAccess;
  /** Registered at the Hospital; each grants and revokes in turn. */
  readonly patients: readonly Patient[];
  readonly insurerMsp: string;
  /** Records per batch (default 20). */
  readonly batchSize?: number;
  /** Concurrent single-anchor clients (default 3). */
  readonly anchorClients?: number;
}

/** What the clients were answered, in numbers. */
export interface WorkloadCounts {
  readonly sent: number;
  readonly acknowledged: number;
  readonly refused: number;
  readonly unacknowledged: number;
  readonly inDoubt: number;
  readonly retried: number;
  readonly verifies: { ok: number; failed: number };
}

export class Workload {
  readonly sent: SentRequest[] = [];
  readonly verifies = { ok: 0, failed: 0 };
  /** Errors of the workload's own code (not gateway answers): the audit requires none. */
  readonly clientErrors: string[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  private n = 0;
  /** Single anchors acknowledged and not yet amended (the amend loop takes from here). */
  private readonly toAmend: { recordId: string; docHash: string }[] = [];
  /** Documents whose anchor was acknowledged (the verify loop picks from here). */
  private readonly anchoredDocs: string[] = [];
  /** After stop(): clients still retrying give up (in doubt) at this time. */
  private giveUpAt = Infinity;

  constructor(private readonly options: WorkloadOptions) {}

  start(): void {
    if (this.running) throw new Error('the workload is already running');
    this.running = true;
    this.giveUpAt = Infinity;
    const o = this.options;
    this.loops = [
      ...Array.from({ length: o.anchorClients ?? 3 }, () => this.loop(() => this.anchorOne())),
      this.loop(() => this.anchorBatch()),
      this.loop(() => this.amendOne()),
      this.loop(() => this.fireOnce()),
      ...o.patients.map((p) => this.loop(() => this.grantAndRevoke(p))),
      this.loop(() => this.verifyOne()),
      this.loop(() => this.verifyOne()),
    ];
  }

  /** Stops sending new requests; the ones in flight keep retrying for up to `withinMs`. */
  async stop(withinMs = 240_000): Promise<void> {
    this.running = false;
    this.giveUpAt = Date.now() + withinMs;
    await Promise.all(this.loops);
    this.loops = [];
  }

  /** Runs until `until` resolves, at least `minRequests` acknowledged meanwhile (so every kind had a go). */
  async acknowledgedAtLeast(count: number, withinMs = 300_000): Promise<void> {
    const deadline = Date.now() + withinMs;
    while (this.counts().acknowledged < count) {
      if (Date.now() > deadline) throw new Error(`the workload had only ${this.counts().acknowledged} of ${count} requests acknowledged after ${withinMs / 1000} s: ${JSON.stringify(this.counts())}`);
      await sleep(200);
    }
  }

  counts(): WorkloadCounts {
    const by = (e: Ending) => this.sent.filter((s) => s.ending === e).length;
    return {
      sent: this.sent.length,
      acknowledged: by('acknowledged'),
      refused: by('refused'),
      unacknowledged: by('unacknowledged'),
      inDoubt: by('in-doubt'),
      retried: this.sent.filter((s) => s.retriedOn.length > 0).length,
      verifies: { ...this.verifies },
    };
  }

  private async loop(step: () => Promise<void>): Promise<void> {
    while (this.running) {
      try {
        await step();
      } catch (err) {
        // A client bug, not a gateway answer: fail loudly in the audit.
        this.clientErrors.push((err as Error).message);
        await sleep(500);
      }
    }
  }

  private record(): { recordId: string; docHash: string } {
    const recordId = `${this.options.tag}-${++this.n}`;
    return { recordId, docHash: sha256(`fault workload ${recordId} ${randomBytes(8).toString('hex')}`) };
  }

  private anchorBody(r: { recordId: string; docHash: string }) {
    return { recordId: r.recordId, docHash: r.docHash, patientId: `MRN-F-${r.recordId}`, category: DISCHARGE, commitment: 'plain' };
  }

  private async anchorOne(): Promise<void> {
    const r = this.record();
    const sent: SentRequest = { kind: 'anchor', records: [r], attempts: 0, retriedOn: [] };
    this.sent.push(sent);
    await this.send(sent, this.options.hospital, '/v1/records', this.anchorBody(r), true);
    if (sent.ending === 'acknowledged') {
      this.toAmend.push(r);
      this.anchoredDocs.push(r.docHash);
    }
  }

  private async anchorBatch(): Promise<void> {
    const records = Array.from({ length: this.options.batchSize ?? 20 }, () => this.record());
    const sent: SentRequest = { kind: 'batch', records, attempts: 0, retriedOn: [] };
    this.sent.push(sent);
    await this.send(sent, this.options.hospital, '/v1/records/batch', { records: records.map((r) => this.anchorBody(r)) }, true);
    if (sent.ending === 'acknowledged') this.anchoredDocs.push(...records.map((r) => r.docHash));
    await sleep(200);
  }

  /** Amends a record right after its anchor was acknowledged: the journal must keep the order. */
  private async amendOne(): Promise<void> {
    const previous = this.toAmend.shift();
    if (!previous) {
      await sleep(100);
      return;
    }
    const r = { recordId: previous.recordId, docHash: sha256(`fault workload amendment ${previous.recordId} ${randomBytes(8).toString('hex')}`) };
    const sent: SentRequest = { kind: 'amend', records: [r], attempts: 0, retriedOn: [] };
    this.sent.push(sent);
    await this.send(sent, this.options.hospital, `/v1/records/${encodeURIComponent(this.hospitalMsp())}/${encodeURIComponent(r.recordId)}/versions`, { docHash: r.docHash, commitment: 'plain' }, true);
    await sleep(100);
  }

  /** A single anchor sent once: whatever it was not acknowledged for must not be on the ledger. */
  private async fireOnce(): Promise<void> {
    const r = this.record();
    const sent: SentRequest = { kind: 'anchor', records: [r], attempts: 0, retriedOn: [] };
    this.sent.push(sent);
    await this.send(sent, this.options.hospital, '/v1/records', this.anchorBody(r), false);
    await sleep(150);
  }

  private async grantAndRevoke(patient: Patient): Promise<void> {
    const signed = await patient.signGrant({ grantee: this.options.insurerMsp, purpose: 'claims', categories: [DISCHARGE] });
    const grant: SentRequest = { kind: 'grant', records: [], patient, attempts: 0, retriedOn: [] };
    this.sent.push(grant);
    const answer = await this.send(grant, { url: this.options.hospital.url }, '/v1/consents', signed, true);
    if (grant.ending !== 'acknowledged') return;
    grant.grantId = (answer as { grant?: { grantId?: string } }).grant?.grantId;
    if (!grant.grantId) throw new Error(`an acknowledged grant without a grantId: ${JSON.stringify(answer)}`);
    const revocation = await patient.signRevocation(grant.grantId);
    const revoke: SentRequest = { kind: 'revoke', records: [], patient, grantId: grant.grantId, attempts: 0, retriedOn: [] };
    this.sent.push(revoke);
    await this.send(revoke, { url: this.options.hospital.url }, '/v1/consents/revocations', revocation, true);
    await sleep(200);
  }

  private async verifyOne(): Promise<void> {
    const docHash = this.anchoredDocs[Math.floor(Math.random() * this.anchoredDocs.length)];
    if (!docHash) {
      await sleep(100);
      return;
    }
    try {
      const res = await fetch(`${this.options.insurer.url}/v1/verifications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.options.insurer.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ docHash }),
      });
      await res.arrayBuffer();
      if (res.status === 200) this.verifies.ok += 1;
      else this.verifies.failed += 1;
    } catch {
      this.verifies.failed += 1;
      await sleep(200);
    }
    await sleep(20);
  }

  private hospitalMsp(): string {
    const p = this.options.patients[0];
    if (!p) throw new Error('the workload needs a patient (it names the hospital)');
    return p.hospital;
  }

  /**
   * Sends until acknowledged or refused (`retry`), or once. Returns the acknowledging body.
   * Patients have no API key: `gw.key` undefined sends none.
   */
  private async send(sent: SentRequest, gw: GatewayAccess, path: string, body: unknown, retry: boolean): Promise<unknown> {
    const idempotencyKey = randomUUID();
    const headers: Record<string, string> = { 'content-type': 'application/json', 'idempotency-key': idempotencyKey };
    if (gw.key) headers.authorization = `Bearer ${gw.key}`;
    const text = JSON.stringify(body);
    for (;;) {
      sent.attempts += 1;
      let res: Response;
      try {
        res = await fetch(gw.url + path, { method: 'POST', headers, body: text, signal: AbortSignal.timeout(90_000) });
      } catch (err) {
        const refused = (err as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED';
        sent.status = 0;
        if (!retry) {
          sent.ending = refused ? 'unacknowledged' : 'in-doubt';
          return undefined;
        }
        sent.retriedOn.push(refused ? 'no connection' : 'no answer');
        if (Date.now() > this.giveUpAt) {
          sent.ending = 'in-doubt';
          return undefined;
        }
        await sleep(300 + Math.random() * 700);
        continue;
      }
      const answerText = await res.text();
      let answer: { id?: string; error?: { code?: string } } = {};
      try {
        answer = JSON.parse(answerText);
      } catch {
        // not JSON
      }
      sent.status = res.status;
      sent.code = answer.error?.code;
      if (res.status < 300) {
        sent.ending = 'acknowledged';
        if (res.status === 202) sent.requestId = answer.id;
        return answer;
      }
      if (res.status === 429 || res.status >= 500) {
        if (!retry) {
          sent.ending = res.status === 503 ? 'unacknowledged' : 'in-doubt';
          return undefined;
        }
        sent.retriedOn.push(`${res.status} ${answer.error?.code ?? ''}`.trim());
        if (Date.now() > this.giveUpAt) {
          sent.ending = 'in-doubt';
          return undefined;
        }
        await sleep(Math.min(Number(res.headers.get('retry-after')) || 1, 2) * (300 + Math.random() * 700));
        continue;
      }
      sent.ending = 'refused';
      return answer;
    }
  }
}
