import { Context, Info, Returns, Transaction } from 'fabric-contract-api';
import { createHash } from 'node:crypto';
import { ChaincodeError } from '../lib/errors';
import {
  approvalsNeeded,
  definitionDigest,
  parseConsortium,
  readConsortium,
  sameDefinition,
  writeConsortium,
  type ApprovalsNeeded,
  type ConsortiumDefinition,
  type ConsortiumState,
} from '../lib/consortium';
import { consortiumChangeKey } from '../lib/keys';
import { MedprovContract } from '../lib/policy';
import { requireOrgAdmin } from '../lib/org-admin';
import { txTimeIso } from '../lib/tx-time';
import { canonicalJson, fromBytes, toBytes } from '../lib/canonical-json';

/** A proposed change of the consortium definition and the approvals it has gathered. */
export interface ConsortiumChange {
  /** The revision in force when it was proposed: approvals never carry over to a later one. */
  baseRevision: number;
  /** {@link definitionDigest} of the proposed definition. */
  digest: string;
  definition: ConsortiumDefinition;
  /**
   * One per organisation, in the order they came. `adminId` is the SHA-256 (hex) of the approving
   * admin's identity (`x509::subject::issuer`): the org can tell which of its admins it was,
   * while no person's name goes on the ledger.
   */
  approvals: { mspId: string; adminId: string; at: string; txId: string }[];
  /** `in-force` once the approvals sufficed; `revision` is then the revision it became. */
  status: 'open' | 'in-force';
  revision?: number;
}

/** Who is calling, and what the consortium looks like. */
@Info({ title: 'Identity', description: 'Caller identity and the consortium definition' })
export class IdentityContract extends MedprovContract {
  constructor() {
    super('Identity');
  }

  /** The caller's MSP ID and the transaction's timestamp: the network's smoke test. */
  @Transaction(false)
  @Returns('string')
  async whoAmI(ctx: Context): Promise<string> {
    return canonicalJson({ mspId: ctx.clientIdentity.getMSPID(), txTimestamp: txTimeIso(ctx) });
  }

  /**
   * Writes the first consortium definition (revision 1), right after the first deployment: the
   * deploy step's job, as an admin of an organisation it lists (a gateway's identity never can).
   * From then on the definition carries a key-level policy of a majority of its members' peers
   * and changes only through {@link approveConsortiumChange}.
   */
  @Transaction()
  async initConsortium(ctx: Context, definitionJson: string): Promise<string> {
    const definition = parseConsortium(definitionJson);
    if (await readConsortium(ctx)) {
      throw new ChaincodeError(
        'CONSORTIUM_ALREADY_CONFIGURED',
        "the consortium definition is already written; a change needs the approval of a majority of the members' admins (Identity:approveConsortiumChange).",
      );
    }
    const caller = ctx.clientIdentity.getMSPID();
    if (!definition.organisations.some((o) => o.mspId === caller)) {
      throw new ChaincodeError('ORG_NOT_IN_CONSORTIUM', `${caller} cannot write a consortium definition that does not list it.`);
    }
    requireOrgAdmin(ctx, 'write the first consortium definition');
    const state: ConsortiumState = { ...definition, revision: 1, approvedBy: [caller], changedAt: txTimeIso(ctx), txId: ctx.stub.getTxID() };
    await writeConsortium(ctx, state);
    return canonicalJson(state);
  }

  /**
   * The caller's organisation approves `definitionJson` as the next consortium definition. The
   * approval that completes a majority of the current members, with every organisation the
   * change adds, puts it in force as the next revision (and moves the definition's key-level
   * policy to a majority of the new members). Only members' admins, and the admins of the
   * organisations it adds, may approve; approving again changes nothing. A definition is
   * compared as written (order included), so reordering the organisations is a change too.
   */
  @Transaction()
  @Returns('string')
  async approveConsortiumChange(ctx: Context, definitionJson: string): Promise<string> {
    const next = parseConsortium(definitionJson);
    const current = await requireConsortium(ctx);
    const caller = ctx.clientIdentity.getMSPID();
    const member = current.organisations.some((o) => o.mspId === caller);
    if (!member && !next.organisations.some((o) => o.mspId === caller)) {
      throw new ChaincodeError('ORG_NOT_IN_CONSORTIUM', `${caller} is neither a member of the consortium nor an organisation this definition adds.`);
    }
    requireOrgAdmin(ctx, 'approve a change of the consortium definition');
    if (sameDefinition(current, next)) {
      throw new ChaincodeError('INVALID_ARGUMENT', `this definition is already in force (revision ${current.revision}); approve a definition that changes it.`);
    }

    const digest = definitionDigest(next);
    const key = consortiumChangeKey(ctx, current.revision, digest);
    const stored = await ctx.stub.getState(key);
    const change: ConsortiumChange =
      stored.length > 0 ? fromBytes<ConsortiumChange>(stored) : { baseRevision: current.revision, digest, definition: next, approvals: [], status: 'open' };
    if (change.approvals.some((a) => a.mspId === caller)) {
      return canonicalJson({ change, inForce: false, created: false, stillNeeded: stillNeeded(current, change) });
    }
    const adminId = createHash('sha256').update(ctx.clientIdentity.getID()).digest('hex');
    change.approvals.push({ mspId: caller, adminId, at: txTimeIso(ctx), txId: ctx.stub.getTxID() });
    const needed = stillNeeded(current, change);
    const complete = needed.members === 0 && needed.joining.length === 0;
    let consortium: ConsortiumState | undefined;
    if (complete) {
      consortium = {
        ...next,
        revision: current.revision + 1,
        approvedBy: change.approvals.map((a) => a.mspId),
        changedAt: txTimeIso(ctx),
        txId: ctx.stub.getTxID(),
      };
      change.status = 'in-force';
      change.revision = consortium.revision;
      await writeConsortium(ctx, consortium);
    }
    // Every approval rewrites this one key, so two approvals at once conflict and one is sent
    // again: a change whose approvals came together can never be left complete but not in force.
    await ctx.stub.putState(key, toBytes(change));
    return canonicalJson({ change, inForce: complete, created: true, stillNeeded: needed, consortium });
  }

  /** The definition in force: organisations and their types, revision, who approved it, when. */
  @Transaction(false)
  @Returns('string')
  async readConsortium(ctx: Context): Promise<string> {
    return canonicalJson((await readConsortium(ctx)) ?? null);
  }

  /** The approvals a proposed definition has gathered against the revision in force, and what it still needs; null when nobody approved it. */
  @Transaction(false)
  @Returns('string')
  async readConsortiumChange(ctx: Context, definitionJson: string): Promise<string> {
    const next = parseConsortium(definitionJson);
    const current = await requireConsortium(ctx);
    const stored = await ctx.stub.getState(consortiumChangeKey(ctx, current.revision, definitionDigest(next)));
    if (stored.length === 0) return canonicalJson(null);
    const change = fromBytes<ConsortiumChange>(stored);
    return canonicalJson({ change, stillNeeded: stillNeeded(current, change) });
  }
}

async function requireConsortium(ctx: Context): Promise<ConsortiumState> {
  const current = await readConsortium(ctx);
  if (!current) {
    throw new ChaincodeError('CONSORTIUM_NOT_CONFIGURED', 'the consortium definition has not been written yet; the deploy step writes the first one (Identity:initConsortium).');
  }
  return current;
}

function stillNeeded(current: ConsortiumState, change: ConsortiumChange): ApprovalsNeeded {
  return approvalsNeeded(current, change.definition, change.approvals.map((a) => a.mspId));
}
