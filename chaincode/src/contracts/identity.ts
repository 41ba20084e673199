import { Context, Info, Returns, Transaction } from 'fabric-contract-api';
import { ChaincodeError } from '../lib/errors';
import { parseConsortium, readConsortium, writeConsortium } from '../lib/consortium';
import { MedprovContract } from '../lib/policy';
import { txTimeIso } from '../lib/tx-time';
import { canonicalJson } from '../lib/canonical-json';

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
   * Writes the consortium definition once, right after the first deployment. The chaincode
   * endorsement policy needs a majority of member organisations, so no single org can
   * write a definition of its own making; afterwards it can never be overwritten here.
   */
  @Transaction()
  async initConsortium(ctx: Context, definitionJson: string): Promise<string> {
    const definition = parseConsortium(definitionJson);
    if (await readConsortium(ctx)) {
      throw new ChaincodeError('CONSORTIUM_ALREADY_CONFIGURED', 'the consortium definition is already written and cannot be replaced.');
    }
    const caller = ctx.clientIdentity.getMSPID();
    if (!definition.organisations.some((o) => o.mspId === caller)) {
      throw new ChaincodeError('ORG_NOT_IN_CONSORTIUM', `${caller} cannot write a consortium definition that does not list it.`);
    }
    await writeConsortium(ctx, definition);
    return canonicalJson(definition);
  }

  @Transaction(false)
  @Returns('string')
  async readConsortium(ctx: Context): Promise<string> {
    return canonicalJson((await readConsortium(ctx)) ?? null);
  }
}
