import { Context, Info, Returns, Transaction } from 'fabric-contract-api';
import { ChaincodeError } from '../lib/errors';
import { canonicalJson, fromBytes, toBytes } from '../lib/canonical-json';
import { accessLogKey, KEY_TYPES } from '../lib/keys';
import { MedprovContract } from '../lib/policy';
import { requireCode, requireMspId, requireOpaqueId, requirePurpose, requireSha256Hex } from '../lib/validate';
import { ACCESS_EVENT, type AccessLogEntry } from '../lib/consent-model';
import { evaluateConsent } from './consent';
import { readLatestAnchor, readRecordVersions } from './records';

/** X.509 attribute (Fabric CA) naming the caller's role; stored in the log when present. */
export const ROLE_ATTRIBUTE = 'medprov.role';

export { ACCESS_EVENT, type AccessLogEntry } from '../lib/consent-model';

/**
 * Consent-checked access to a record's provenance, with an on-ledger access log that the
 * patient can list. The log is written whatever the decision: a denied access is still a
 * successful transaction, so its entry commits.
 */
@Info({ title: 'Access', description: 'Consent-checked access to record provenance, with an access log' })
export class AccessContract extends MedprovContract {
  constructor() {
    super('Access');
  }

  /**
   * Checks the caller's consent (the caller's MSP is the grantee) for the record's latest
   * version and logs the attempt. Returns the decision, the log entry and, only when
   * permitted, the provenance (every version of the record, oldest first).
   */
  @Transaction()
  @Returns('string')
  async accessRecord(ctx: Context, issuerArg: string, recordIdArg: string, purposeArg: string): Promise<string> {
    const issuer = requireMspId('issuer', issuerArg);
    const recordId = requireOpaqueId('recordId', recordIdArg);
    const purpose = requirePurpose('purpose', purposeArg);
    const accessor = ctx.clientIdentity.getMSPID();
    const role = callerRole(ctx);
    const anchor = await readLatestAnchor(ctx, issuer, recordId);

    const decision = await evaluateConsent(ctx, {
      hospital: anchor.issuer,
      patientRef: anchor.patientRef,
      grantee: accessor,
      purpose,
      category: anchor.category,
      recordId: anchor.recordId,
    });
    const entry: AccessLogEntry = {
      accessor,
      role,
      issuer,
      recordId,
      version: anchor.version,
      patientRef: anchor.patientRef,
      purpose,
      decision: decision.decision,
      reason: decision.reason,
      grantId: decision.grantId,
      at: decision.evaluatedAt,
      txId: ctx.stub.getTxID(),
    };
    // No key-level policy: an entry must not be erasable by the org it is about.
    await ctx.stub.putState(accessLogKey(ctx, issuer, anchor.patientRef, entry.at, entry.txId), toBytes(entry));
    ctx.stub.setEvent(ACCESS_EVENT, toBytes(entry));

    const provenance = decision.decision === 'PERMIT' ? await readRecordVersions(ctx, issuer, recordId) : undefined;
    return canonicalJson({ ...decision, accessLog: entry, provenance });
  }

  /** Every access-log entry about a patientRef of a hospital, oldest first. */
  @Transaction(false)
  @Returns('string')
  async listAccessLog(ctx: Context, hospitalArg: string, patientRefArg: string): Promise<string> {
    const hospital = requireMspId('hospital', hospitalArg);
    const patientRef = requireSha256Hex('patientRef', patientRefArg);
    const entries: AccessLogEntry[] = [];
    for await (const kv of ctx.stub.getStateByPartialCompositeKey(KEY_TYPES.accessLog, [hospital, patientRef])) {
      entries.push(fromBytes<AccessLogEntry>(kv.value));
    }
    return canonicalJson(entries);
  }
}

function callerRole(ctx: Context): string | undefined {
  const role = ctx.clientIdentity.getAttributeValue(ROLE_ATTRIBUTE);
  if (role === null || role === undefined || role === '') return undefined;
  try {
    return requireCode(ROLE_ATTRIBUTE, role);
  } catch {
    throw new ChaincodeError('INVALID_ARGUMENT', `the caller's certificate attribute ${ROLE_ATTRIBUTE} must be a code of letters, digits and . _ : - only.`);
  }
}
