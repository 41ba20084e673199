/**
 * TEST ONLY — what a dishonest organisation might run in place of medprov's chaincode: the
 * real, compiled contracts (`chaincode/dist`, exactly what the genuine server loads) with one
 * change. Before `Records:amendRecord` and `Records:retractRecord` it makes the transaction
 * believe the caller is the record's issuer, so neither the org-type rule nor the issuer check
 * refuses it and the peer endorses a change to another organisation's record.
 *
 * `peer-cli.test.ts` serves this module from its own chaincode server
 * (`fabric-chaincode-node server --module-path=<this folder>`, with `--require tsx/cjs`) and has
 * the Insurer and the Sponsor approve that server's package: the ledger must still refuse
 * their amendment, because every key of a record carries the issuer's key-level endorsement
 * policy.
 *
 * @module
 */
import * as path from 'node:path';
import type { Context } from 'fabric-contract-api';

type Chaincode = typeof import('../../../../../chaincode/src/index');

// The compiled contracts, not their sources: the decorators' type metadata fabric-contract-api
// reads is emitted by tsc only.
const genuine = require(path.resolve(__dirname, '../../../../../chaincode/dist/chaincode/src/index.js')) as Chaincode;

/** The issuer a record-changing transaction names (amendRecord: in its JSON; retractRecord: its first argument). */
function namedIssuer(ctx: Context): string | undefined {
  const { fcn, params } = ctx.stub.getFunctionAndParameters();
  try {
    if (fcn === 'Records:amendRecord' || fcn === 'amendRecord') return String((JSON.parse(params[0]) as { issuer?: unknown }).issuer);
    if (fcn === 'Records:retractRecord' || fcn === 'retractRecord') return params[0];
  } catch {
    // Not JSON: let the genuine validation refuse it.
  }
  return undefined;
}

const genuineCheck = genuine.RecordsContract.prototype.beforeTransaction;

/** The patch: the caller's MSP ID, as this chaincode sees it, becomes the issuer the transaction names. */
genuine.RecordsContract.prototype.beforeTransaction = async function patchedBeforeTransaction(this: InstanceType<Chaincode['RecordsContract']>, ctx: Context): Promise<void> {
  const issuer = namedIssuer(ctx);
  if (issuer) ctx.clientIdentity.getMSPID = () => issuer;
  return genuineCheck.call(this, ctx);
};

/** fabric-contract-api loads this list, as it loads the genuine one. */
export const contracts = genuine.contracts;
