import { parseChaincodeError } from '../../../chaincode/src/lib/errors';

/**
 * The one error type of the Fabric seam. `code` is the chaincode's own code when the
 * chaincode refused the transaction, or a transport code when the network did.
 */
export class LedgerError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly transactionId?: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'LedgerError';
  }

  /** True when a retry may succeed: the network, not the request, was at fault. */
  get transient(): boolean {
    return TRANSIENT_CODES.has(this.code);
  }
}

const TRANSIENT_CODES = new Set(['LEDGER_UNAVAILABLE', 'LEDGER_TIMEOUT', 'MVCC_CONFLICT', 'ENDORSEMENT_MISMATCH']);

// gRPC status codes the client sees when no peer or orderer answers in time.
const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;
// The call was cut under the client: seen when the gateway's peer dies (SIGKILL) during a call.
const GRPC_CANCELLED = 1;

/**
 * Turns whatever the Fabric client threw into a {@link LedgerError}. The chaincode's coded
 * message can sit in the error itself or in the per-peer details.
 */
export function toLedgerError(err: unknown): LedgerError {
  if (err instanceof LedgerError) return err;
  const e = err as { code?: number; transactionId?: string };
  const texts = errorTexts(err);
  for (const text of texts) {
    const parsed = parseChaincodeError(text);
    if (parsed) return new LedgerError(parsed.code, parsed.message, e?.transactionId, err);
  }
  const all = texts.join(' | ');
  if (/MVCC_READ_CONFLICT|PHANTOM_READ_CONFLICT/.test(all)) {
    return new LedgerError('MVCC_CONFLICT', 'Another transaction changed the same data at the same time; retry.', e?.transactionId, err);
  }
  // The peers' simulations differ: one of them had not committed the latest block yet (its
  // world state is a block behind). Nothing went to the orderer, so sending it again is safe.
  if (/ProposalResponsePayloads do not match/.test(all)) {
    return new LedgerError('ENDORSEMENT_MISMATCH', "The organisations' peers answered differently (one had not caught up with the latest block); retry.", e?.transactionId, err);
  }
  if (/ENDORSEMENT_POLICY_FAILURE/.test(all)) {
    return new LedgerError('ENDORSEMENT_POLICY_FAILURE', 'The ledger refused the write: its endorsements do not satisfy the policy.', e?.transactionId, err);
  }
  // The peer's discovery does not see enough peers of the other orgs to meet the policy (it has
  // just been restarted and gossip has not found them yet, or they are down): nothing was endorsed.
  if (/no combination of peers can be derived|no peer combination can satisfy the endorsement policy/i.test(all)) {
    return new LedgerError('LEDGER_UNAVAILABLE', "The peer does not reach enough of the consortium's peers to meet the endorsement policy yet; the request was not recorded.", e?.transactionId, err);
  }
  // The peer could not reach the chaincode server (down, restarting): nothing ran, nothing was ordered.
  if (/could not launch chaincode|chaincode stream terminated|chaincode .* is not running/i.test(all)) {
    return new LedgerError('LEDGER_UNAVAILABLE', `The chaincode did not answer the peer; the request was not recorded. (${all.slice(0, 300)})`, e?.transactionId, err);
  }
  // The peer gave up on the chaincode (its execute timeout, under load): not endorsed, not ordered.
  if (/timeout expired while executing transaction/i.test(all)) {
    return new LedgerError('LEDGER_TIMEOUT', 'The chaincode did not finish in the time the peer allows; the request was not recorded.', e?.transactionId, err);
  }
  // Ordered, but the peer did not confirm the commit (it died, or the deadline passed): the
  // transaction may yet commit. Sending the same request again is safe — every medprov write
  // answers a repeat with what it did the first time — and tells the caller the outcome.
  if ((err as Error)?.name === 'CommitStatusError') {
    return new LedgerError(
      'LEDGER_TIMEOUT',
      'The consortium took the request but did not confirm its commit in time; the outcome is not known yet. Send the same request again: it is never applied twice.',
      e?.transactionId,
      err,
    );
  }
  // Cut while the orderer had it: the outcome is not known. Cut before (endorsing, or a query): nothing was recorded.
  if (e?.code === GRPC_CANCELLED) {
    return (err as Error)?.name === 'SubmitError'
      ? new LedgerError('LEDGER_TIMEOUT', 'The connection to the peer broke while the request was being ordered; the outcome is not known yet. Send the same request again: it is never applied twice.', e?.transactionId, err)
      : new LedgerError('LEDGER_UNAVAILABLE', 'The connection to the peer broke during the call; the request was not recorded.', e?.transactionId, err);
  }
  if (e?.code === GRPC_UNAVAILABLE) {
    return new LedgerError('LEDGER_UNAVAILABLE', 'No peer or orderer of the consortium answered; the request was not recorded.', e?.transactionId, err);
  }
  if (e?.code === GRPC_DEADLINE_EXCEEDED) {
    return new LedgerError('LEDGER_TIMEOUT', 'The consortium did not answer in time; the outcome is not known yet.', e?.transactionId, err);
  }
  return new LedgerError('LEDGER_ERROR', `The ledger call failed: ${all.slice(0, 500)}`, e?.transactionId, err);
}

/** The message of a Fabric client error, then those of its per-peer details. */
export function errorTexts(err: unknown): string[] {
  const e = err as { message?: string; details?: { message?: string }[] };
  return [e?.message ?? String(err), ...(e?.details ?? []).map((d) => d.message ?? '')];
}

/**
 * Refusals that name state as missing (RECORD_NOT_FOUND, PATIENT_NOT_REGISTERED, GRANT_NOT_FOUND, …):
 * what a peer that has not committed the latest blocks yet answers about something that was just
 * written. Whoever knows the write committed asks again before believing one.
 */
export function isLagSensitiveCode(code: string): boolean {
  return /_NOT_FOUND$|_NOT_REGISTERED$/.test(code);
}

/**
 * True when an endorsement failed only because peers of *other* organisations refused with a
 * lag-sensitive code ({@link isLagSensitiveCode}) while this organisation's own peer — which has
 * committed everything this gateway saw commit — did not refuse: those peers are most likely a
 * block behind, and the same call a moment later succeeds.
 */
export function refusedOnlyByLaggingPeers(err: unknown, ownMspId: string): boolean {
  const details = (err as { details?: { mspId?: string; message?: string }[] })?.details;
  if (!Array.isArray(details) || details.length === 0) return false;
  if (parseChaincodeError((err as Error)?.message ?? '')) return false;
  return details.every((d) => {
    const parsed = parseChaincodeError(d.message ?? '');
    return d.mspId !== undefined && d.mspId !== ownMspId && parsed !== undefined && isLagSensitiveCode(parsed.code);
  });
}
