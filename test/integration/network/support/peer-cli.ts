/**
 * Reading Fabric's own `peer` CLI: what a refused call said, and what the ledger's system
 * chaincode (qscc) says of a transaction. Nothing of medprov's client code is on this path:
 * the calls go through `network/src/fabric-cli.ts` (the `peer` binary with an org admin's
 * environment) and the answers are parsed here, from the tool's own words and Fabric's protobufs.
 *
 * @module
 */
import { common, msp, peer as peerProtos } from '@hyperledger/fabric-protos';
import { FabricToolError, peerAsAdmin } from '../../../../network/src/fabric-cli';
import type { Network } from '../../../../network/src/network';

/** How a `peer chaincode invoke` (or `query`) was refused. */
export interface Refusal {
  /**
   * The chaincode's stable code (`SIGNER_NOT_PATIENT`, …) when a peer refused to endorse, or
   * Fabric's validation code (`ENDORSEMENT_POLICY_FAILURE`, …) when the peers invalidated the
   * ordered transaction.
   */
  readonly code: string;
  /** The chaincode's sentence after the code (empty for a validation code). */
  readonly sentence: string;
  /** Where it was refused. */
  readonly stage: 'endorsement' | 'validation';
  /** Everything the tool printed. */
  readonly output: string;
}

// `Error: endorsement failure during invoke. response: status:500 message:"NONCE_REUSED: grant.message.nonce …"`
const ENDORSEMENT_REFUSAL = /endorsement failure during (?:invoke|query)\. response: status:\d+ message:"([A-Z][A-Z0-9_]+): ((?:[^"\\]|\\.)*)"/;
// `Error: transaction invalidated with status (ENDORSEMENT_POLICY_FAILURE)`
const VALIDATION_REFUSAL = /transaction invalidated with status \(([A-Z_]+)\)/;

/**
 * Awaits a `peer` call that must be refused and says how: the code, the sentence, the stage.
 * Rejects if the call succeeded, or failed in a way that is no refusal (a tool or TLS error).
 */
export async function refusalOf(call: Promise<unknown>): Promise<Refusal> {
  let failure: unknown;
  try {
    await call;
  } catch (err) {
    failure = err;
  }
  if (failure === undefined) throw new Error('the peer CLI call was expected to be refused, but it succeeded');
  if (!(failure instanceof FabricToolError)) throw failure;
  const endorsement = ENDORSEMENT_REFUSAL.exec(failure.output);
  if (endorsement) return { code: endorsement[1], sentence: endorsement[2].replace(/\\"/g, '"'), stage: 'endorsement', output: failure.output };
  const validation = VALIDATION_REFUSAL.exec(failure.output);
  if (validation) return { code: validation[1], sentence: '', stage: 'validation', output: failure.output };
  throw new Error(`the peer CLI failed without a chaincode or validation code: ${failure.message}`);
}

/** A transaction as the ledger of one org's peer holds it: its validation code (by name) and its block. */
export interface LedgerTransaction {
  /** Fabric's `TxValidationCode` name: `VALID` for a transaction that took effect. */
  readonly validation: string;
  readonly blockNumber: bigint;
}

const VALIDATION_NAMES = Object.fromEntries(Object.entries(peerProtos.TxValidationCode).map(([name, code]) => [code, name])) as Record<number, string>;

/** `peer chaincode query -n qscc --hex` as `orgName`'s admin: the answer's bytes. */
async function qscc(network: Network, orgName: string, args: readonly string[]): Promise<Uint8Array> {
  const org = network.organisation(orgName);
  const hex = await peerAsAdmin(network, org, ['chaincode', 'query', '-C', network.channel, '-n', 'qscc', '-c', JSON.stringify({ Args: args }), '--hex']);
  return Buffer.from(hex.trim(), 'hex');
}

/**
 * What `orgName`'s peer says of transaction `txId` through the ledger's query system chaincode
 * (`GetTransactionByID`, `GetBlockByTxID`): whether it was valid and in which block.
 */
export async function ledgerTransaction(network: Network, orgName: string, txId: string): Promise<LedgerTransaction> {
  const processed = peerProtos.ProcessedTransaction.deserializeBinary(await qscc(network, orgName, ['GetTransactionByID', network.channel, txId]));
  const block = common.Block.deserializeBinary(await qscc(network, orgName, ['GetBlockByTxID', network.channel, txId]));
  const header = block.getHeader();
  if (!header) throw new Error(`${orgName}'s peer answered a block without a header for transaction ${txId}`);
  const code = processed.getValidationcode();
  return { validation: VALIDATION_NAMES[code] ?? String(code), blockNumber: BigInt(header.getNumber()) };
}

/**
 * Who signed transaction `txId` as its creator, read from the ledger through qscc: the MSP ID and
 * the certificate (PEM) of the identity the submitting client used.
 */
export async function transactionCreator(network: Network, orgName: string, txId: string): Promise<{ mspId: string; certificate: string }> {
  const processed = peerProtos.ProcessedTransaction.deserializeBinary(await qscc(network, orgName, ['GetTransactionByID', network.channel, txId]));
  const envelope = processed.getTransactionenvelope();
  if (!envelope) throw new Error(`${orgName}'s peer answered transaction ${txId} without its envelope`);
  const payload = common.Payload.deserializeBinary(envelope.getPayload_asU8());
  const signatureHeader = common.SignatureHeader.deserializeBinary(payload.getHeader()?.getSignatureHeader_asU8() ?? new Uint8Array());
  const creator = msp.SerializedIdentity.deserializeBinary(signatureHeader.getCreator_asU8());
  return { mspId: creator.getMspid(), certificate: Buffer.from(creator.getIdBytes_asU8()).toString('utf8') };
}
