import { Context, Info, Returns, Transaction } from 'fabric-contract-api';
import { ChaincodeError } from '../lib/errors';
import { canonicalJson, fromBytes, toBytes } from '../lib/canonical-json';
import { erasureKey, restrictToOrg } from '../lib/keys';
import { MedprovContract } from '../lib/policy';
import { txTimeIso } from '../lib/tx-time';

/**
 * An erasure as the ledger records it: that a hospital destroyed one patient's key, and when
 * the ledger learnt of it. Nothing else — no patientRef, no count of records, no hash of
 * anything the patient could be found by: any of those would re-link the erased patient to
 * their ledger entries, which is exactly what the erasure cut.
 */
export interface ErasureEntry {
  /** The random UUID of the gateway's erasure record; the only link to the patient's request. */
  erasureId: string;
  /** MSP ID of the hospital that destroyed the key (the caller). */
  hospital: string;
  /**
   * The transaction's time: when the ledger recorded the erasure, which is at or after the
   * key's destruction (the gateway's erasure record holds that time; a retried recording
   * comes later).
   */
  recordedAt: string;
  txId: string;
}

/** The form of an erasure id: a version-4 UUID, lower case (one spelling, so one key). */
const ERASURE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Refuses anything but a lowercase version-4 UUID; the sentence does not repeat the value. */
export function requireErasureId(value: unknown): string {
  if (typeof value !== 'string' || !ERASURE_ID.test(value)) {
    throw new ChaincodeError('INVALID_ARGUMENT', 'erasureId must be a version-4 UUID in lower case, as the gateway generates them.');
  }
  return value;
}

/**
 * The privacy log of the ledger: hospitals record that they erased a patient (crypto-shredded
 * the patient's key in their gateway) without saying who. Ledger entries are never changed by
 * an erasure; this record only makes the erasure itself accountable.
 */
@Info({ title: 'Privacy', description: 'Erasures recorded without identifying the patient' })
export class PrivacyContract extends MedprovContract {
  constructor() {
    super('Privacy');
  }

  /**
   * Records the caller hospital's erasure `erasureId`. Idempotent: recording the same id
   * again returns the existing record (`created: false`), so a retried request is harmless.
   * The key carries a key-level endorsement policy of the hospital.
   */
  @Transaction()
  @Returns('string')
  async recordErasure(ctx: Context, erasureIdArg: string): Promise<string> {
    const erasureId = requireErasureId(erasureIdArg);
    const hospital = ctx.clientIdentity.getMSPID();
    const key = erasureKey(ctx, erasureId);
    const existing = await ctx.stub.getState(key);
    if (existing.length > 0) {
      const erasure = fromBytes<ErasureEntry>(existing);
      if (erasure.hospital !== hospital) {
        throw new ChaincodeError('FORBIDDEN_OTHER_ORG', `erasure ${erasureId} was recorded by ${erasure.hospital}; ${hospital} cannot record it again.`);
      }
      return canonicalJson({ erasure, created: false });
    }
    const erasure: ErasureEntry = { erasureId, hospital, recordedAt: txTimeIso(ctx), txId: ctx.stub.getTxID() };
    await ctx.stub.putState(key, toBytes(erasure));
    await restrictToOrg(ctx, key, hospital);
    return canonicalJson({ erasure, created: true });
  }

  /** The erasure record with this id, or `null`. */
  @Transaction(false)
  @Returns('string')
  async readErasure(ctx: Context, erasureIdArg: string): Promise<string> {
    const bytes = await ctx.stub.getState(erasureKey(ctx, requireErasureId(erasureIdArg)));
    return canonicalJson(bytes.length > 0 ? fromBytes<ErasureEntry>(bytes) : null);
  }
}
