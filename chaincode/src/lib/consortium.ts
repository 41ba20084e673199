import type { Context } from 'fabric-contract-api';
import { ChaincodeError } from './errors';
import { fromBytes, toBytes } from './canonical-json';
import { parseJsonArgument, requireMspId, requireObject, requireOneOf } from './validate';

export const ORG_TYPES = ['hospital', 'insurer', 'sponsor'] as const;
export type OrgType = (typeof ORG_TYPES)[number];

export interface ConsortiumDefinition {
  organisations: { mspId: string; type: OrgType }[];
}

/** World-state key of the consortium definition (a plain key: no composite prefix). */
export const CONSORTIUM_KEY = 'consortium';

/**
 * Which member is which kind of organisation comes from the network's own definition
 * (network/consortium.json), written once when the chaincode is first deployed, so the
 * chaincode holds no list of organisations.
 */
export function parseConsortium(raw: string): ConsortiumDefinition {
  const body = requireObject('consortium', parseJsonArgument('consortium', raw), ['organisations']);
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
  return { organisations };
}

export async function readConsortium(ctx: Context): Promise<ConsortiumDefinition | undefined> {
  const bytes = await ctx.stub.getState(CONSORTIUM_KEY);
  return bytes && bytes.length > 0 ? fromBytes<ConsortiumDefinition>(bytes) : undefined;
}

export async function writeConsortium(ctx: Context, definition: ConsortiumDefinition): Promise<void> {
  await ctx.stub.putState(CONSORTIUM_KEY, toBytes(definition));
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
