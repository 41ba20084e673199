/**
 * Prometheus metrics of the gateway's ledger writes: how many requests each transaction carried
 * (coalesced single anchors), how long transactions took and how they ended, and how the
 * acceptance journal's requests stand. Registered by the HTTP app on its `/metrics` registry.
 *
 * @module
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CallReport } from './coalescer';
import type { SubmitterCounts } from './submitter';

/** What the metrics read: the journal's submitter and the synchronous write path, each optional. */
export interface LedgerWriteSources {
  acceptance?: { observeCalls(listener: (report: CallReport) => void): () => void; counts(): SubmitterCounts };
  records?: { observeAnchorCalls?(listener: (report: CallReport) => void): () => void };
}

/** Registers the ledger-write metrics on `metrics`; returns the function that stops observing. */
export function registerLedgerWriteMetrics(metrics: Registry, sources: LedgerWriteSources): () => void {
  const requests = new Histogram({
    name: 'medprov_ledger_transaction_requests',
    help: 'Requests carried by one ledger transaction (single anchors coalesced into Records:anchorEach), by path and transaction',
    labelNames: ['path', 'transaction'],
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
    registers: [metrics],
  });
  const seconds = new Histogram({
    name: 'medprov_ledger_transaction_seconds',
    help: 'Ledger transaction duration, endorsement to commit status, by path and transaction',
    labelNames: ['path', 'transaction'],
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [metrics],
  });
  const outcomes = new Counter({
    name: 'medprov_ledger_transactions_total',
    help: 'Ledger transactions by path, transaction and outcome (committed, or the failure code)',
    labelNames: ['path', 'transaction', 'outcome'],
    registers: [metrics],
  });
  const observe = (path: string) => (r: CallReport) => {
    requests.observe({ path, transaction: r.transaction }, r.requests);
    seconds.observe({ path, transaction: r.transaction }, r.ms / 1000);
    outcomes.inc({ path, transaction: r.transaction, outcome: r.outcome });
  };
  const stops: (() => void)[] = [];
  const { acceptance, records } = sources;
  if (acceptance) {
    stops.push(acceptance.observeCalls(observe('journal')));
    new Gauge({
      name: 'medprov_acceptance_requests',
      help: 'Accepted requests not finished yet, by state (accepted: not sent; submitting; backing_off: waiting to retry; stuck: many attempts)',
      labelNames: ['state'],
      registers: [metrics],
      collect() {
        const c = acceptance.counts();
        this.set({ state: 'accepted' }, c.accepted);
        this.set({ state: 'submitting' }, c.submitting);
        this.set({ state: 'backing_off' }, c.backingOff);
        this.set({ state: 'stuck' }, c.stuck);
      },
    });
    new Gauge({
      name: 'medprov_acceptance_transactions_in_flight',
      help: 'Ledger transactions the acceptance submitter has in flight',
      registers: [metrics],
      collect() {
        this.set(acceptance.counts().inFlight);
      },
    });
  }
  if (records?.observeAnchorCalls) stops.push(records.observeAnchorCalls(observe('synchronous')));
  return () => stops.forEach((stop) => stop());
}
