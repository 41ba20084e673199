import { Context, Info, Returns, Transaction } from 'fabric-contract-api';
import { ChaincodeError } from '../lib/errors';
import { MedprovContract } from '../lib/policy';

const PROBE_KEY_TYPE = 'medprov.probe';
const MAX_KEY = 64;
const MAX_VALUE = 256;

function probeKey(ctx: Context, key: string): string {
  if (typeof key !== 'string' || !/^[A-Za-z0-9._:-]{1,64}$/.test(key)) {
    throw new ChaincodeError('INVALID_ARGUMENT', `key must be 1 to ${MAX_KEY} letters, digits or . _ : -.`);
  }
  return ctx.stub.createCompositeKey(PROBE_KEY_TYPE, [key]);
}

/**
 * The trivial transactions: one key written, one key read. Operators use them to see that the
 * network commits (readiness) and benchmarks use them as the ceiling every medprov transaction
 * is measured against: the same peers, chaincode server and client, doing (almost) nothing.
 * The keys live apart from every medprov key and mean nothing to any other contract.
 */
@Info({ title: 'Probe', description: 'Trivial one-key write and read: readiness checks and the benchmarks’ ceiling' })
export class ProbeContract extends MedprovContract {
  constructor() {
    super('Probe');
  }

  /** Writes `value` (at most 256 characters) under `key`: one key, nothing read. */
  @Transaction()
  async put(ctx: Context, key: string, value: string): Promise<void> {
    const k = probeKey(ctx, key);
    if (typeof value !== 'string' || value.length > MAX_VALUE) {
      throw new ChaincodeError('INVALID_ARGUMENT', `value must be at most ${MAX_VALUE} characters.`);
    }
    await ctx.stub.putState(k, Buffer.from(value, 'utf8'));
  }

  /** The value under `key`, or an empty string. */
  @Transaction(false)
  @Returns('string')
  async get(ctx: Context, key: string): Promise<string> {
    return Buffer.from(await ctx.stub.getState(probeKey(ctx, key))).toString('utf8');
  }
}
