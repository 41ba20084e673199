import type { Context } from 'fabric-contract-api';

type Seconds = number | { toNumber(): number } | string;

/**
 * The transaction's timestamp as an ISO-8601 string. The client sets it in the proposal, so
 * every endorser sees the same value — unlike the clock of the machine running the chaincode.
 */
export function txTimeIso(ctx: Context): string {
  const ts = ctx.stub.getTxTimestamp() as unknown as { seconds: Seconds; nanos: number };
  return new Date(txTimeMillis(ts.seconds, ts.nanos)).toISOString();
}

/** The transaction's timestamp in whole Unix seconds (the unit consent validity is signed in). */
export function txTimeSeconds(ctx: Context): number {
  const ts = ctx.stub.getTxTimestamp() as unknown as { seconds: Seconds; nanos: number };
  return Math.floor(txTimeMillis(ts.seconds, ts.nanos) / 1000);
}

function txTimeMillis(seconds: Seconds, nanos: number): number {
  const s = typeof seconds === 'object' ? seconds.toNumber() : Number(seconds);
  return s * 1000 + Math.floor(nanos / 1e6);
}
