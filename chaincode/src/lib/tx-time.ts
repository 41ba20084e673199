import type { Context } from 'fabric-contract-api';
import { ChaincodeError } from './errors';

type Seconds = number | { toNumber(): number } | string;

/** The chaincode server's setting: how far (in seconds) a transaction's timestamp may be from the peer's clock. */
export const TX_TIME_TOLERANCE_ENV = 'MEDPROV_TX_TIME_TOLERANCE_SECONDS';
/** Five minutes: far above the clock drift of NTP-synchronised machines and a slow endorsement, far below any consent's validity. */
export const DEFAULT_TX_TIME_TOLERANCE_SECONDS = 300;
/** A day: a larger setting would give a backdated transaction that much room and is treated as a mistake. */
export const MAX_TX_TIME_TOLERANCE_SECONDS = 86_400;

/**
 * A stand-in for the endorsing peer's clock, in milliseconds since the epoch. Unit tests put one
 * on the context; on a real peer there is none and the machine's clock is used.
 */
export interface PeerClock {
  peerClock?: () => number;
}

/**
 * The tolerance the chaincode server is configured with: {@link TX_TIME_TOLERANCE_ENV}, a whole
 * number of seconds from 1 to a day. Unset, empty or anything else gives the default, so that a
 * typing mistake never turns the check off.
 */
export function txTimeToleranceSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[TX_TIME_TOLERANCE_ENV]?.trim() ?? '';
  if (!/^\d{1,6}$/.test(raw)) return DEFAULT_TX_TIME_TOLERANCE_SECONDS;
  const seconds = Number(raw);
  return seconds >= 1 && seconds <= MAX_TX_TIME_TOLERANCE_SECONDS ? seconds : DEFAULT_TX_TIME_TOLERANCE_SECONDS;
}

/**
 * The transaction's timestamp as an ISO-8601 string: what the chaincode writes. The client sets it
 * in the proposal, so every endorser sees the same value; see {@link txTimeMillis} for the bound.
 */
export function txTimeIso(ctx: Context): string {
  return new Date(txTimeMillis(ctx)).toISOString();
}

/** The transaction's timestamp in whole Unix seconds (the unit consent validity is signed in). */
export function txTimeSeconds(ctx: Context): number {
  return Math.floor(txTimeMillis(ctx) / 1000);
}

// Contexts whose timestamp was already checked: a batch of 1,000 records reads the time 1,000 times.
const checked = new WeakSet<Context>();

/**
 * The transaction's timestamp in milliseconds, once it is known to be within the tolerance of
 * this peer's clock; otherwise TRANSACTION_TIME_SKEWED. Every use of the time goes through here,
 * so no transaction decides or records anything by a time its submitter made up.
 *
 * The one place the chaincode reads a clock (an exception to "time only from the transaction"):
 * only the decision to endorse depends on it, never a written value. Validation at commit runs no
 * chaincode, so committed state never depends on a clock; peers' clocks need only agree within
 * the tolerance, and a transaction at the edge that one peer endorses and another refuses is
 * refused as a whole (its endorsements do not match) and sent again with a fresh timestamp.
 */
export function txTimeMillis(ctx: Context): number {
  const ts = ctx.stub.getTxTimestamp() as unknown as { seconds: Seconds; nanos: number };
  const s = typeof ts.seconds === 'object' ? ts.seconds.toNumber() : Number(ts.seconds);
  const millis = s * 1000 + Math.floor(ts.nanos / 1e6);
  if (!checked.has(ctx)) {
    requireNearPeerClock(ctx, millis);
    checked.add(ctx);
  }
  return millis;
}

function requireNearPeerClock(ctx: Context, txMillis: number): void {
  const peerMillis = (ctx as Context & PeerClock).peerClock?.() ?? Date.now();
  const tolerance = txTimeToleranceSeconds();
  const skew = txMillis - peerMillis;
  if (Math.abs(skew) <= tolerance * 1000) return;
  // Date's range ends at ±8.64e15 ms; a timestamp beyond it has no ISO form to quote.
  const when = Number.isFinite(skew) && Math.abs(txMillis) <= 8.64e15
    ? `${new Date(txMillis).toISOString()} is ${Math.round(Math.abs(skew) / 1000)} s ${skew < 0 ? 'behind' : 'ahead of'} this peer's clock`
    : `cannot be read as a time`;
  throw new ChaincodeError(
    'TRANSACTION_TIME_SKEWED',
    `the transaction's timestamp ${when}; more than ${tolerance} s is refused, so that nobody can date a transaction into a consent's validity. Check the clock of the machine that submitted it and send it again.`,
  );
}
