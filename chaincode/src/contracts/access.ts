import { Context, Info, Returns, Transaction } from 'fabric-contract-api';
import { ChaincodeError } from '../lib/errors';
import { canonicalJson, fromBytes, toBytes } from '../lib/canonical-json';
import { accessLogKey, consentGrantKey, disclosureKey, KEY_TYPES } from '../lib/keys';
import { MedprovContract } from '../lib/policy';
import { readConsortium } from '../lib/consortium';
import { MAX_BATCH, type RecordAnchor } from '../lib/record-model';
import { parseJsonArgument, requireCode, requireMspId, requireObject, requireOpaqueId, requirePurpose, requireSha256Hex } from '../lib/validate';
import { ACCESS_EVENT, type AccessLogEntry, type Decision, type DisclosureRecord } from '../lib/consent-model';
import { CONSENTED_ACCESS_KEY_TYPE, type ConsentedAccess } from '../lib/access-receipt-model';
import type { ConsentGrant } from '../lib/consent-model';
import type { ConsentGrantMessage } from '../lib/eip712';
import { evaluateConsent } from './consent';
import { breakGlassAccess, listBreakGlassAccesses } from './break-glass';
import { readLatestAnchor, readRecordVersions, withBatchContext, withBatchContextAsync } from './records';

/** X.509 attribute (Fabric CA) naming the caller's role; stored in the log when present. */
export const ROLE_ATTRIBUTE = 'medprov.role';

export { ACCESS_EVENT, accessEventEntries, type AccessEvent, type AccessLogEntry, type DisclosedRecord, type DisclosureRecord } from '../lib/consent-model';

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
    const anchor = await readLatestAnchor(ctx, issuer, recordId);
    const { decision, entry } = await checkAndLog(ctx, anchor, { accessor: ctx.clientIdentity.getMSPID(), purpose });
    const consented = decision.decision === 'PERMIT' ? await recordConsentedAccess(ctx, anchor, entry) : undefined;
    // The consented access rides on the entry's event: every gateway's anchor log makes it a leaf.
    ctx.stub.setEvent(ACCESS_EVENT, toBytes(consented ? { ...entry, consentedAccess: consented } : entry));

    const provenance = decision.decision === 'PERMIT' ? await readRecordVersions(ctx, issuer, recordId) : undefined;
    return canonicalJson({ ...decision, accessLog: entry, provenance });
  }

  /**
   * The issuing hospital records that it discloses its own records to `grantee` for `purpose`
   * (e.g. a research release to a trial's sponsor). Each record's consent is checked for the
   * grantee at the transaction's time, exactly as for {@link accessRecord}, and logged either
   * way as a `disclosure` entry in the patient's access log (accessor: the grantee; disclosedBy:
   * the hospital); one {@link ACCESS_EVENT} carries every entry. A denied record is a logged
   * outcome, not an error: the caller hands over only what was permitted.
   *
   * `disclosureJson`: `{ disclosureId, issuer, grantee, purpose, recordIds }`, up to MAX_BATCH
   * record ids of the caller's records; the first invalid one fails the whole transaction and
   * is named. The same disclosureId again returns the recorded disclosure and logs nothing,
   * so a re-sent transaction is harmless.
   */
  @Transaction()
  @Returns('string')
  async discloseRecords(ctx: Context, disclosureJson: string): Promise<string> {
    const body = requireObject('disclosure', parseJsonArgument('disclosure', disclosureJson), ['disclosureId', 'issuer', 'grantee', 'purpose', 'recordIds']);
    const disclosureId = requireOpaqueId('disclosure.disclosureId', body.disclosureId, 64);
    const issuer = requireMspId('disclosure.issuer', body.issuer);
    const caller = ctx.clientIdentity.getMSPID();
    if (issuer !== caller) throw new ChaincodeError('FORBIDDEN_NOT_ISSUER', `${caller} cannot disclose records issued by ${issuer}; a hospital discloses only its own.`);
    const grantee = requireMspId('disclosure.grantee', body.grantee);
    if (grantee === caller) throw new ChaincodeError('INVALID_ARGUMENT', `disclosure.grantee must be another organisation than the disclosing ${caller}.`);
    const purpose = requirePurpose('disclosure.purpose', body.purpose);
    const list = body.recordIds;
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_BATCH) {
      throw new ChaincodeError('INVALID_ARGUMENT', `disclosure.recordIds must be a list of 1 to ${MAX_BATCH} record ids.`);
    }
    const recordIds: string[] = [];
    const seen = new Map<string, number>();
    for (let i = 0; i < list.length; i++) {
      const field = `recordIds[${i}]`;
      const recordId = withBatchContext(field, { recordId: list[i] }, () => requireOpaqueId(field, list[i]));
      const at = seen.get(recordId);
      if (at !== undefined) throw new ChaincodeError('BATCH_INVALID', `${field} (recordId ${recordId}) repeats recordIds[${at}].`);
      seen.set(recordId, i);
      recordIds.push(recordId);
    }
    const consortium = await readConsortium(ctx);
    if (!consortium?.organisations.some((o) => o.mspId === grantee)) {
      throw new ChaincodeError('ORG_NOT_IN_CONSORTIUM', `disclosure.grantee ${grantee} is not a member of the consortium.`);
    }

    const key = disclosureKey(ctx, issuer, disclosureId);
    const existing = await ctx.stub.getState(key);
    if (existing.length > 0) {
      const recorded = fromBytes<DisclosureRecord>(existing);
      if (recorded.grantee !== grantee || recorded.purpose !== purpose || recorded.records.map((r) => r.recordId).join('\u0000') !== recordIds.join('\u0000')) {
        throw new ChaincodeError('INVALID_ARGUMENT', `disclosure.disclosureId ${disclosureId} already names another disclosure of ${issuer}.`);
      }
      return canonicalJson({ disclosure: recorded, created: false });
    }

    const entries: (AccessLogEntry & { decision: Decision })[] = [];
    for (const [i, recordId] of recordIds.entries()) {
      const field = `recordIds[${i}]`;
      const anchor = await withBatchContextAsync(field, recordId, () => readLatestAnchor(ctx, issuer, recordId));
      entries.push((await checkAndLog(ctx, anchor, { accessor: grantee, purpose, disclosure: { by: issuer, id: disclosureId } })).entry);
    }
    const disclosure: DisclosureRecord = {
      disclosureId,
      issuer,
      grantee,
      purpose,
      records: entries.map(({ recordId, version, decision, reason, grantId }) => ({ recordId, version, decision, reason, grantId })),
      at: entries[0].at,
      txId: ctx.stub.getTxID(),
    };
    // Like the entries, no key-level policy: the chaincode never changes it.
    await ctx.stub.putState(key, toBytes(disclosure));
    ctx.stub.setEvent(ACCESS_EVENT, toBytes({ entries }));
    return canonicalJson({ disclosure, created: true });
  }

  /**
   * The consented access of transaction `txId` and the grant it relied on (the signed EIP-712
   * message), for a provenance receipt; `null` when that transaction was no access permitted by
   * consent. Only the recipient and the record's issuer may read it (FORBIDDEN_OTHER_ORG): the
   * grant names the patient's pseudonym.
   */
  @Transaction(false)
  @Returns('string')
  async readConsentedAccess(ctx: Context, txIdArg: string): Promise<string> {
    const txId = requireSha256Hex('txId', txIdArg);
    const bytes = await ctx.stub.getState(ctx.stub.createCompositeKey(CONSENTED_ACCESS_KEY_TYPE, [txId]));
    if (bytes.length === 0) return canonicalJson(null);
    const stored = fromBytes<ConsentedAccess & { patientRef: string }>(bytes);
    const caller = ctx.clientIdentity.getMSPID();
    if (caller !== stored.recipient && caller !== stored.issuer) {
      throw new ChaincodeError('FORBIDDEN_OTHER_ORG', `Only ${stored.recipient} (the recipient) and ${stored.issuer} (the issuer) may read the consented access of transaction ${txId}.`);
    }
    const grantBytes = await ctx.stub.getState(consentGrantKey(ctx, stored.issuer, stored.patientRef, stored.grantId));
    if (grantBytes.length === 0) throw new ChaincodeError('GRANT_NOT_FOUND', `The grant ${stored.grantId} of the consented access ${txId} is not on the ledger.`);
    const g = fromBytes<ConsentGrant>(grantBytes);
    const grant: ConsentGrantMessage = {
      hospital: g.hospital,
      patientRef: g.patientRef,
      grantee: g.grantee,
      purpose: g.purpose,
      categories: g.categories,
      recordIds: g.recordIds,
      validFrom: g.validFrom,
      validUntil: g.validUntil,
      nonce: g.nonce,
    };
    const { patientRef: _pseudonym, ...access } = stored;
    return canonicalJson({ access, grant });
  }

  /**
   * Break-glass: a hospital's clinician opens a record without consent in an emergency.
   * `requestJson`: `{ issuer, recordId, reason, role }` (see contracts/break-glass.ts): logged as
   * a `break-glass` entry in the patient's access log and in the audit of both organisations,
   * within the consortium's per-organisation daily rate; any refusal writes nothing.
   */
  @Transaction()
  @Returns('string')
  async breakGlassAccess(ctx: Context, requestJson: string): Promise<string> {
    return breakGlassAccess(ctx, requestJson);
  }

  /** The break-glass accesses made `by` an organisation, or `of` its records, on UTC days `from`..`to` (YYYY-MM-DD). */
  @Transaction(false)
  @Returns('string')
  async listBreakGlassAccesses(ctx: Context, side: string, mspId: string, from: string, to: string): Promise<string> {
    return listBreakGlassAccesses(ctx, side, mspId, from, to);
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

/**
 * The one consent decision of an access or a disclosure, and its log entry: checks the
 * consent of `who.accessor` (the grantee) for the record's latest version at the
 * transaction's time and writes the entry whatever the decision.
 */
async function checkAndLog(
  ctx: Context,
  anchor: RecordAnchor,
  who: { accessor: string; purpose: string; disclosure?: { by: string; id: string } },
): Promise<{ decision: Awaited<ReturnType<typeof evaluateConsent>>; entry: AccessLogEntry & { decision: Decision } }> {
  const decision = await evaluateConsent(ctx, {
    hospital: anchor.issuer,
    patientRef: anchor.patientRef,
    grantee: who.accessor,
    purpose: who.purpose,
    category: anchor.category,
    recordId: anchor.recordId,
  });
  const entry: AccessLogEntry & { decision: Decision } = {
    accessor: who.accessor,
    role: callerRole(ctx),
    ...(who.disclosure ? { kind: 'disclosure' as const, disclosedBy: who.disclosure.by, disclosureId: who.disclosure.id } : {}),
    issuer: anchor.issuer,
    recordId: anchor.recordId,
    version: anchor.version,
    patientRef: anchor.patientRef,
    purpose: who.purpose,
    decision: decision.decision,
    reason: decision.reason,
    grantId: decision.grantId,
    at: decision.evaluatedAt,
    txId: ctx.stub.getTxID(),
  };
  // No key-level policy: an entry must not be erasable by the org it is about.
  const key = accessLogKey(ctx, anchor.issuer, anchor.patientRef, entry.at, entry.txId, who.disclosure ? anchor.recordId : undefined);
  await ctx.stub.putState(key, toBytes(entry));
  return { decision, entry };
}

/**
 * Stores what a provenance receipt of a permitted access binds (see access-receipt-model.ts),
 * keyed by the transaction id, with the patientRef kept beside it so that the grant can be read
 * back; returns it without the patientRef, as the event announces it.
 */
async function recordConsentedAccess(ctx: Context, anchor: RecordAnchor, entry: AccessLogEntry): Promise<ConsentedAccess> {
  const grantId = entry.grantId as string;
  const grant = fromBytes<ConsentGrant>(await ctx.stub.getState(consentGrantKey(ctx, anchor.issuer, anchor.patientRef, grantId)));
  const consented: ConsentedAccess = {
    channel: ctx.stub.getChannelID(),
    docHash: anchor.docHash,
    issuer: anchor.issuer,
    recordId: anchor.recordId,
    version: anchor.version,
    category: anchor.category,
    grantId,
    patient: grant.patient,
    signature: grant.signature,
    ...(grant.signedBy === 'guardian' ? { signedBy: 'guardian' as const, delegationId: grant.delegationId } : {}),
    purpose: entry.purpose,
    recipient: entry.accessor,
    txId: entry.txId,
    at: entry.at,
  };
  // No key-level policy, like the access log: nobody may change it.
  await ctx.stub.putState(ctx.stub.createCompositeKey(CONSENTED_ACCESS_KEY_TYPE, [entry.txId]), toBytes({ ...consented, patientRef: anchor.patientRef }));
  return consented;
}

export function callerRole(ctx: Context): string | undefined {
  const role = ctx.clientIdentity.getAttributeValue(ROLE_ATTRIBUTE);
  if (role === null || role === undefined || role === '') return undefined;
  try {
    return requireCode(ROLE_ATTRIBUTE, role);
  } catch {
    throw new ChaincodeError('INVALID_ARGUMENT', `the caller's certificate attribute ${ROLE_ATTRIBUTE} must be a code of letters, digits and . _ : - only.`);
  }
}
