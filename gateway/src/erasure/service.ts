/**
 * Erasure in the DPO's terms: destroy one patient's key in the org's key store
 * (crypto-shredding, {@link PatientKeyStore.erasePatient}), then record on the ledger that the
 * hospital erased someone — by the erasure's random id only (`Privacy:recordErasure`).
 *
 * Order matters: the key is destroyed first and stays destroyed whatever happens to the
 * recording. The recording goes through the acceptance journal when the gateway has one (so it
 * is retried until the ledger takes it, also across restarts); if it cannot even be queued, the
 * answer says so with ERASURE_NOT_RECORDED and the DPO records it later with
 * `POST /v1/erasures/{erasureId}/ledger-record`, which is idempotent.
 *
 * The key store keeps the erasure's random id with the tombstone, so an erasure whose recording
 * was never journalled (a crash between the store write and the journal append, or a lost
 * answer) is not lost: repeating the erasure answers 409 PATIENT_KEY_ERASED naming the earlier
 * `erasureId` and whether the ledger holds its record, and queues the recording again when it
 * does not (recording an id twice returns the existing record). Journalling first instead would
 * announce an erasure that did not happen whenever the store write then failed.
 *
 * Registering an erased patient again ({@link ErasureService.reRegister}) removes the tombstone and
 * its id, so it first makes sure the ledger holds that erasure's record (recording it and waiting
 * for the commit if not), and refuses with 503 ERASURE_NOT_CONFIRMED, keeping the tombstone, when
 * it cannot. A tombstone from before ids were kept names no erasure and is removed as before.
 *
 * Nothing here logs or returns the patientId, the patientRef or anything derived from them.
 *
 * @module
 */
import type { ErasureEntry } from '../../../chaincode/src/contracts/privacy';
import type { AcceptanceService, RequestContext } from '../acceptance/service';
import type { RequestStatus } from '../acceptance/submitter';
import type { AcceptanceLogger } from '../acceptance/logger';
import { ApiError } from '../errors';
import type { Ledger } from '../fabric/client';
import { isPrivacyError, type ErasureRecord, type Registration, type RegistrationOptions } from '../privacy';
import { toApiError } from '../records/service';

/** `Privacy:recordErasure` and `Privacy:readErasure`: the chaincode's erasure log. */
const RECORD_TX = 'Privacy:recordErasure';
const READ_TX = 'Privacy:readErasure';

/** How long re-registration waits for an erasure's ledger record to commit through the journal. Default 30 s. */
export const DEFAULT_ERASURE_CONFIRM_WAIT_MS = 30_000;

/** The part of the key store erasure needs. */
export interface ErasableKeys {
  erasePatient(orgPatientId: string): Promise<ErasureRecord>;
  registerPatient(orgPatientId: string, options: RegistrationOptions): Promise<Registration>;
}

/** How the ledger recording of an erasure stands. */
export type LedgerRecording =
  /** On the ledger: its record (`created: false` when it was there already). */
  | { state: 'committed'; transactionId: string; blockNumber: string; erasure: ErasureEntry; created: boolean; requestId?: string }
  /** In the acceptance journal, being submitted with retries: follow `location`. */
  | { state: 'accepted' | 'submitting'; requestId: string; location: string }
  /** Not recorded: the key is destroyed all the same; record it with `retry`. */
  | { state: 'not-recorded'; code: 'ERASURE_NOT_RECORDED'; cause: string; message: string; retry: string };

/** The answer to an erasure: the key store's record, and the ledger's. */
export interface ErasureOutcome {
  erasure: ErasureRecord;
  ledger: LedgerRecording;
}

/** Erasure and its ledger record, for the DPO routes. */
export class ErasureService {
  constructor(
    private readonly keys: ErasableKeys,
    private readonly ledger: Ledger,
    private readonly options: { acceptance?: AcceptanceService; logger?: AcceptanceLogger } = {},
  ) {}

  /**
   * Destroys the patient's key, then records the erasure on the ledger. The first step's
   * refusals are errors (nothing was done); once the key is destroyed, the answer is an
   * outcome, whatever the ledger does.
   *
   * @param waitMs - how long to wait for the journal's commit (Prefer: wait); 0 answers at once
   * @throws ApiError 404 PATIENT_NOT_REGISTERED, 400 INVALID_IDENTIFIER, 409 PATIENT_KEY_ERASED
   *   (details: the earlier `erasureId`, `ledgerRecorded`, and `ledger`, the recording queued
   *   again when it was not recorded; none of them for erasures made before ids were kept)
   */
  async erase(patientId: string, context: RequestContext = {}, waitMs = 0): Promise<ErasureOutcome> {
    let erasure: ErasureRecord;
    try {
      erasure = await this.keys.erasePatient(patientId);
    } catch (err) {
      if (isPrivacyError(err, 'PATIENT_KEY_ERASED') && err.erasureId !== undefined) throw await this.alreadyErased(err.erasureId, context, waitMs);
      throw erasureRefusal(err);
    }
    this.options.logger?.info('erasure: patient key destroyed', { erasureId: erasure.erasureId });
    return { erasure, ledger: await this.recordQuietly(erasure.erasureId, context, waitMs) };
  }

  /**
   * Registers an erased patient again (the person returns as a new patient): a new, unrelated
   * ref. The tombstone is removed only after the ledger is seen to hold the record of the erasure
   * it names: read with `Privacy:readErasure`, recorded now if missing (through the journal when
   * there is one, waiting up to `waitMs` for the commit). A patient who was never erased is
   * registered as usual.
   *
   * @throws ApiError 503 ERASURE_NOT_CONFIRMED (details: `erasureId`, `ledger`; the tombstone is
   *   kept and nothing else is written), 409 PATIENT_KEY_ERASED (the patient was erased again
   *   meanwhile), 400 INVALID_IDENTIFIER
   */
  async reRegister(patientId: string, context: RequestContext = {}, waitMs = DEFAULT_ERASURE_CONFIRM_WAIT_MS): Promise<Registration> {
    try {
      return await this.keys.registerPatient(patientId, {
        afterErasure: true,
        confirmErasureRecorded: (erasureId) => this.confirmRecorded(erasureId, context, waitMs),
      });
    } catch (err) {
      throw erasureRefusal(err);
    }
  }

  /**
   * Records erasure `erasureId` on the ledger now (synchronously, not through the journal): the
   * DPO's retry after ERASURE_NOT_RECORDED. Idempotent.
   *
   * @throws ApiError the ledger's refusal or failure (e.g. 503 LEDGER_UNAVAILABLE)
   */
  async record(erasureId: string): Promise<Extract<LedgerRecording, { state: 'committed' }>> {
    try {
      const committed = await this.ledger.submit(RECORD_TX, erasureId);
      const { erasure, created } = JSON.parse(new TextDecoder().decode(committed.result)) as { erasure: ErasureEntry; created: boolean };
      return { state: 'committed', transactionId: committed.transactionId, blockNumber: committed.blockNumber.toString(), erasure, created };
    } catch (err) {
      throw toApiError(err);
    }
  }

  /**
   * The ledger's record of erasure `erasureId`.
   *
   * @throws ApiError 404 ERASURE_NOT_FOUND
   */
  async read(erasureId: string): Promise<ErasureEntry> {
    const entry = await this.lookup(erasureId);
    if (!entry) throw new ApiError(404, 'ERASURE_NOT_FOUND', 'No erasure with this id is recorded on the ledger (yet).');
    return entry;
  }

  /** `Privacy:readErasure`: the record, or null. */
  private async lookup(erasureId: string): Promise<ErasureEntry | null> {
    try {
      return JSON.parse(new TextDecoder().decode(await this.ledger.evaluate(READ_TX, erasureId))) as ErasureEntry | null;
    } catch (err) {
      throw toApiError(err);
    }
  }

  /**
   * The 409 for a patient erased before: names the earlier erasure and whether the ledger holds
   * its record; when it does not (or the ledger cannot say), queues the recording again.
   */
  private async alreadyErased(erasureId: string, context: RequestContext, waitMs: number): Promise<ApiError> {
    const found = await this.lookup(erasureId).catch(() => null);
    const ledger = found ? undefined : await this.recordQuietly(erasureId, context, waitMs);
    this.options.logger?.info('erasure: repeated for an erased patient', { erasureId, ledgerRecorded: found !== null });
    return new ApiError(
      409,
      'PATIENT_KEY_ERASED',
      found
        ? 'That patient has already been erased, and the erasure is recorded on the ledger.'
        : 'That patient has already been erased; the ledger record of that erasure was missing and is being made again (see ledger).',
      { erasureId, ledgerRecorded: found !== null, ...(ledger ? { ledger } : {}) },
    );
  }

  /** Resolves once the ledger holds erasure `erasureId`'s record, recording it if missing; else 503 ERASURE_NOT_CONFIRMED. */
  private async confirmRecorded(erasureId: string, context: RequestContext, waitMs: number): Promise<void> {
    if (await this.lookup(erasureId).catch(() => null)) return;
    const ledger = await this.recordQuietly(erasureId, context, waitMs);
    if (ledger.state === 'committed') return;
    this.options.logger?.info('erasure: re-registration refused, the erasure is not confirmed on the ledger', { erasureId, state: ledger.state });
    throw new ApiError(
      503,
      'ERASURE_NOT_CONFIRMED',
      "The patient was erased, and the ledger record of that erasure could not be confirmed, so the patient cannot be registered again yet (nothing was changed). Record the erasure (see ledger), then try again.",
      { erasureId, ledger },
    );
  }

  /** The recording after the key is gone: never throws, says what happened instead. */
  private async recordQuietly(erasureId: string, context: RequestContext, waitMs: number): Promise<LedgerRecording> {
    const { acceptance, logger } = this.options;
    try {
      if (!acceptance) return await this.record(erasureId);
      const ack = await acceptance.recordErasure(erasureId, context);
      const status = (waitMs > 0 ? await acceptance.waitFor(ack.id, waitMs) : undefined) ?? ack.status;
      return fromStatus(status, ack.location);
    } catch (err) {
      const apiError = err instanceof ApiError ? err : (toApiError(err) as { code?: string; message?: string });
      const cause = typeof apiError.code === 'string' && /^[A-Z_]+$/.test(apiError.code) ? apiError.code : 'INTERNAL';
      logger?.error('erasure: the key is destroyed but the erasure is not recorded on the ledger', { erasureId, code: 'ERASURE_NOT_RECORDED', cause });
      return {
        state: 'not-recorded',
        code: 'ERASURE_NOT_RECORDED',
        cause,
        message: "The patient's key is destroyed, but the ledger record of the erasure could not be written. Record it with POST /v1/erasures/{erasureId}/ledger-record (safe to repeat).",
        retry: `/v1/erasures/${erasureId}/ledger-record`,
      };
    }
  }
}

/** A journal status in the erasure answer's terms. */
function fromStatus(status: RequestStatus, location: string): LedgerRecording {
  switch (status.state) {
    case 'committed': {
      const { erasure, created } = status.result as { erasure: ErasureEntry; created: boolean };
      return { state: 'committed', transactionId: status.transactionId, blockNumber: status.blockNumber, erasure, created, requestId: status.id };
    }
    case 'rejected':
      // The chaincode refused it for good (it cannot, for a well-formed id of this hospital): surfaced as not recorded.
      throw new ApiError(502, status.code, status.message);
    default:
      return { state: status.state, requestId: status.id, location };
  }
}

/** The key store's refusals in the API's terms; anything else (a store failure) stays a 500. */
function erasureRefusal(err: unknown): unknown {
  if (!isPrivacyError(err)) return err;
  const sentence = err.message.replace(/^[A-Z_]+: /, '');
  switch (err.code) {
    case 'PATIENT_NOT_REGISTERED':
      return new ApiError(404, err.code, sentence);
    case 'PATIENT_KEY_ERASED':
      return new ApiError(409, err.code, sentence);
    case 'INVALID_IDENTIFIER':
      return new ApiError(400, err.code, sentence);
    default:
      return err;
  }
}
