import type { Context } from 'fabric-contract-api';
import { createHash } from 'node:crypto';
import { ChaincodeError } from './errors';
import { canonicalJson, fromBytes, toBytes } from './canonical-json';
import { restrictToMajorityOf } from './keys';
import { parseJsonArgument, requireMspId, requireObject, requireOneOf } from './validate';
import { DEFAULT_BREAK_GLASS_PER_ORG_PER_DAY, MAX_BREAK_GLASS_PER_ORG_PER_DAY } from './break-glass';

/** `linkage`: a research linkage institution (it matches hospitals' linkage tokens; sees no identities, no documents). */
export const ORG_TYPES = ['hospital', 'insurer', 'sponsor', 'linkage'] as const;
export type OrgType = (typeof ORG_TYPES)[number];

export interface ConsortiumDefinition {
  organisations: { mspId: string; type: OrgType }[];
  /**
   * Break-glass emergency accesses each organisation may make per UTC day (0: none). Absent:
   * {@link DEFAULT_BREAK_GLASS_PER_ORG_PER_DAY}. Set and changed like the rest of the definition.
   */
  breakGlass?: { perOrgPerDay: number };
}

/** The definition in force, as stored: its revision, whose admins approved it, when. */
export interface ConsortiumState extends ConsortiumDefinition {
  /** 1 for the first definition, one more for each change. */
  revision: number;
  /** MSP IDs whose admins approved this revision (the first: the org that wrote it). */
  approvedBy: string[];
  /** Absent on a definition written before revisions were kept. */
  changedAt?: string;
  txId?: string;
}

/** World-state key of the consortium definition (a plain key: no composite prefix). */
export const CONSORTIUM_KEY = 'consortium';

/**
 * Which member is which kind of organisation comes from the network's own definition
 * (network/consortium.json), written by the deploy step when the chaincode is first deployed and
 * changed only by a majority of the members' admins, so the chaincode holds no list of
 * organisations.
 */
export function parseConsortium(raw: string): ConsortiumDefinition {
  const body = requireObject('consortium', parseJsonArgument('consortium', raw), ['organisations', 'breakGlass']);
  if (!Array.isArray(body.organisations) || body.organisations.length === 0 || body.organisations.length > 64) {
    throw new ChaincodeError('INVALID_ARGUMENT', 'consortium.organisations must be a list of 1 to 64 organisations.');
  }
  const seen = new Set<string>();
  const organisations = body.organisations.map((entry: unknown, i: number) => {
    const org = requireObject(`consortium.organisations[${i}]`, entry, ['mspId', 'type']);
    const mspId = requireMspId(`consortium.organisations[${i}].mspId`, org.mspId);
    if (seen.has(mspId)) throw new ChaincodeError('INVALID_ARGUMENT', `consortium lists ${mspId} twice.`);
    seen.add(mspId);
    return { mspId, type: requireOneOf(`consortium.organisations[${i}].type`, org.type, ORG_TYPES) };
  });
  return { organisations, ...(body.breakGlass !== undefined ? { breakGlass: parseBreakGlass(body.breakGlass) } : {}) };
}

function parseBreakGlass(value: unknown): { perOrgPerDay: number } {
  const breakGlass = requireObject('consortium.breakGlass', value, ['perOrgPerDay']);
  const rate = breakGlass.perOrgPerDay;
  if (typeof rate !== 'number' || !Number.isInteger(rate) || rate < 0 || rate > MAX_BREAK_GLASS_PER_ORG_PER_DAY) {
    throw new ChaincodeError('INVALID_ARGUMENT', `consortium.breakGlass.perOrgPerDay must be a whole number from 0 to ${MAX_BREAK_GLASS_PER_ORG_PER_DAY}.`);
  }
  return { perOrgPerDay: rate };
}

/** Break-glass accesses one organisation may make per UTC day under this definition. */
export function breakGlassPerOrgPerDay(definition: ConsortiumDefinition): number {
  return definition.breakGlass?.perOrgPerDay ?? DEFAULT_BREAK_GLASS_PER_ORG_PER_DAY;
}

export async function readConsortium(ctx: Context): Promise<ConsortiumState | undefined> {
  const bytes = await ctx.stub.getState(CONSORTIUM_KEY);
  if (!bytes || bytes.length === 0) return undefined;
  const stored = fromBytes<Partial<ConsortiumState> & ConsortiumDefinition>(bytes);
  return { ...stored, revision: stored.revision ?? 1, approvedBy: stored.approvedBy ?? [] };
}

/**
 * Stores the definition in force and moves the key's endorsement policy to a majority of its
 * members' peers. Fabric validates a write against the policy the key had before it, so the
 * next change needs a majority of these members, whatever the chaincode-level policy is.
 */
export async function writeConsortium(ctx: Context, state: ConsortiumState): Promise<void> {
  await ctx.stub.putState(CONSORTIUM_KEY, toBytes(state));
  await restrictToMajorityOf(ctx, CONSORTIUM_KEY, state.organisations.map((o) => o.mspId));
}

/** The definition alone, as compared and digested: the organisations as written, order included. */
function definitionOf(definition: ConsortiumDefinition): ConsortiumDefinition {
  return {
    organisations: definition.organisations.map(({ mspId, type }) => ({ mspId, type })),
    ...(definition.breakGlass ? { breakGlass: { perOrgPerDay: definition.breakGlass.perOrgPerDay } } : {}),
  };
}

/** SHA-256 (hex) of the definition's canonical JSON: names a proposed change. */
export function definitionDigest(definition: ConsortiumDefinition): string {
  return createHash('sha256').update(canonicalJson(definitionOf(definition))).digest('hex');
}

export function sameDefinition(a: ConsortiumDefinition, b: ConsortiumDefinition): boolean {
  return canonicalJson(definitionOf(a)) === canonicalJson(definitionOf(b));
}

/** What a change still lacks before it is in force. */
export interface ApprovalsNeeded {
  /** How many more current members' admins must approve (a majority of the members is needed). */
  members: number;
  /** Organisations the change adds whose admins have not approved it (each one must). */
  joining: string[];
}

/**
 * A change is in force once the admins of more than half of the current members approved it,
 * and the admin of every organisation it adds: nobody is listed, or given a type, without its
 * own consent, and no minority can change who the members are or what each may do.
 */
export function approvalsNeeded(current: ConsortiumDefinition, next: ConsortiumDefinition, approvedBy: readonly string[]): ApprovalsNeeded {
  const members = current.organisations.map((o) => o.mspId);
  const majority = Math.floor(members.length / 2) + 1;
  const approvingMembers = members.filter((m) => approvedBy.includes(m)).length;
  return {
    members: Math.max(0, majority - approvingMembers),
    joining: next.organisations.map((o) => o.mspId).filter((m) => !members.includes(m) && !approvedBy.includes(m)),
  };
}

/** The kind of organisation the caller belongs to, or a clear refusal. */
export async function callerOrgType(ctx: Context): Promise<OrgType> {
  const definition = await readConsortium(ctx);
  if (!definition) {
    throw new ChaincodeError('CONSORTIUM_NOT_CONFIGURED', 'the consortium definition has not been written yet; run the deploy script.');
  }
  const mspId = ctx.clientIdentity.getMSPID();
  const org = definition.organisations.find((o) => o.mspId === mspId);
  if (!org) throw new ChaincodeError('ORG_NOT_IN_CONSORTIUM', `${mspId} is not a member of the consortium.`);
  return org.type;
}
