import { common } from '@hyperledger/fabric-protos';
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { IdentityContract } from '../../../chaincode/src';
import { LedgerClient, type Ledger, type OrgConnection } from '../../../gateway/src/fabric/client';
import { delegatingLedger } from '../../../gateway/src/fabric/delegating-ledger';
import { LedgerError } from '../../../gateway/src/fabric/errors';
import { RecordsService, type VerdictSource, type VerificationResult } from '../../../gateway/src/records/service';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, INSURER } from '../chaincode/fixtures';
import { ChaincodeLedger } from '../support/chaincode-ledger';
import { recorder } from '../support/recording-logger';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const refs = { ensurePatientRef: async (id: string) => sha(`ref\u0000${id}`) };

describe('verdicts carry the block of the anchoring transaction (records service, peer path)', () => {
  let ledger: FakeLedger;
  let insurer: ChaincodeLedger;
  let txId: string;

  beforeEach(async () => {
    ledger = new FakeLedger();
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    const committed = await new ChaincodeLedger(ledger, HOSPITAL).submit(
      'Records:anchorRecord',
      JSON.stringify({ recordId: 'r-1', docHash: sha('doc'), patientRef: sha('p'), category: 'loinc:18842-5' }),
    );
    txId = committed.transactionId;
    insurer = new ChaincodeLedger(ledger, INSURER);
  });

  /** The insurer's ledger with another way of finding blocks (none, when `blockOfTransaction` is undefined). */
  const withBlocks = (blockOfTransaction: Ledger['blockOfTransaction']): Ledger => delegatingLedger(insurer, { blockOfTransaction });

  it('finds the block by transaction id when the peer answers', async () => {
    expect(await insurer.blockOfTransaction(txId)).to.equal(2n);
    expect(await new RecordsService(insurer, refs).verifyDocument(sha('doc'))).to.include({ verdict: 'ORIGINAL', txId, blockNumber: '2' });
  });

  it('leaves the block out, and logs why, when the ledger cannot find or read it; the verdict stands', async () => {
    const cases: [Ledger['blockOfTransaction'], RegExp, string | undefined][] = [
      [async () => undefined, /was not found/, undefined],
      [async () => Promise.reject(new LedgerError('LEDGER_UNAVAILABLE', 'No peer answered.')), /could not be read/, 'LEDGER_UNAVAILABLE'],
    ];
    for (const [blockOfTransaction, message, code] of cases) {
      const log = recorder();
      const verdict = await new RecordsService(withBlocks(blockOfTransaction), refs, undefined, log).verifyDocument(sha('doc'));
      expect(verdict).to.include({ verdict: 'ORIGINAL', txId }).and.not.have.property('blockNumber');
      expect(log.lines).to.have.length(1);
      expect(log.lines[0]).to.include({ level: 'warn' }).and.have.property('message').that.matches(message);
      expect(log.lines[0]!.fields).to.include({ txId, ...(code ? { code } : {}) });
    }
    // A ledger without the look-up: no block, nothing to log.
    const log = recorder();
    expect(await new RecordsService(withBlocks(undefined), refs, undefined, log).verifyDocument(sha('doc'))).to.not.have.property('blockNumber');
    expect(log.lines).to.deep.equal([]);
  });

  it('asks the ledger for the block of an index verdict that lacks one, and not for one that has it', async () => {
    const asked: string[] = [];
    const counted = withBlocks(async (id) => (asked.push(id), insurer.blockOfTransaction(id)));
    const known: VerificationResult = { verdict: 'SUPERSEDED', docHash: sha('doc'), txId, blockNumber: '2' };
    let answer: VerificationResult = { verdict: 'SUPERSEDED', docHash: sha('doc'), txId };
    const index: VerdictSource = { verdictOf: () => answer };
    expect(await new RecordsService(counted, refs, index).verifyDocument(sha('doc'))).to.include({ verdict: 'SUPERSEDED', blockNumber: '2' });
    expect(asked).to.deep.equal([txId]);
    answer = known;
    expect(await new RecordsService(counted, refs, index).verifyDocument(sha('doc'))).to.include({ blockNumber: '2' });
    expect(asked).to.have.length(1);
  });
});

describe('LedgerClient.blockOfTransaction and height: qscc GetBlockByTxID and GetChainInfo, decoded (no network: a stand-in for the Fabric gateway)', () => {
  const connection = { channel: 'medprov', chaincode: 'medprov' } as OrgConnection;
  const calls: { chaincode: string; name: string; args: string[] }[] = [];

  /** A LedgerClient whose Fabric gateway answers every evaluation with `answer`. */
  function clientAnswering(answer: () => Promise<Uint8Array>): LedgerClient {
    const gateway = {
      getNetwork: (channel: string) => {
        expect(channel).to.equal('medprov');
        return {
          getContract: (chaincode: string) => ({
            evaluateTransaction: (name: string, ...args: string[]) => (calls.push({ chaincode, name, args }), answer()),
          }),
        };
      },
    };
    const Client = LedgerClient as unknown as new (grpcClient: unknown, gateway: unknown, connection: OrgConnection) => LedgerClient;
    return new Client(undefined, gateway, connection);
  }

  const blockBytes = (n: number): Uint8Array => {
    const header = new common.BlockHeader();
    header.setNumber(n);
    const block = new common.Block();
    block.setHeader(header);
    return block.serializeBinary();
  };

  beforeEach(() => calls.splice(0));

  it("reads the number from the header of the block qscc returns, asking with the channel's name", async () => {
    expect(await clientAnswering(async () => blockBytes(41)).blockOfTransaction('ab'.repeat(32))).to.equal(41n);
    expect(calls).to.deep.equal([{ chaincode: 'qscc', name: 'GetBlockByTxID', args: ['medprov', 'ab'.repeat(32)] }]);
  });

  it("answers undefined for a transaction the peer's block index does not hold", async () => {
    const notFound = Object.assign(new Error('10 ABORTED: evaluate call to endorser returned error'), {
      code: 10,
      details: [{ message: 'chaincode response 500, Failed to get block for txID "x", error no such transaction ID [x] in index' }],
    });
    expect(await clientAnswering(() => Promise.reject(notFound)).blockOfTransaction('x')).to.equal(undefined);
  });

  it('maps transport failures and unreadable answers to LedgerError', async () => {
    const unavailable = Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14 });
    const refused = await clientAnswering(() => Promise.reject(unavailable)).blockOfTransaction('x').catch((err: unknown) => err);
    expect(refused).to.be.instanceOf(LedgerError).and.include({ code: 'LEDGER_UNAVAILABLE', transient: true });
    const headless = await clientAnswering(async () => new common.Block().serializeBinary()).blockOfTransaction('x').catch((err: unknown) => err);
    expect(headless).to.be.instanceOf(LedgerError).and.include({ code: 'LEDGER_ERROR' });
    expect((headless as Error).message).to.match(/no readable block for x/);
  });

  it("reads the channel's height from the chain info qscc GetChainInfo returns, asking with the channel's name", async () => {
    const info = new common.BlockchainInfo();
    info.setHeight(1_234);
    info.setCurrentblockhash(new Uint8Array(32).fill(7));
    expect(await clientAnswering(async () => info.serializeBinary()).height()).to.equal(1_234n);
    expect(calls).to.deep.equal([{ chaincode: 'qscc', name: 'GetChainInfo', args: ['medprov'] }]);
  });

  it('maps transport failures and unreadable chain info to LedgerError', async () => {
    const unavailable = Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14 });
    const refused = await clientAnswering(() => Promise.reject(unavailable)).height().catch((err: unknown) => err);
    expect(refused).to.be.instanceOf(LedgerError).and.include({ code: 'LEDGER_UNAVAILABLE', transient: true });
    // An empty answer decodes to height 0, which no channel has (it holds at least its genesis block); bytes that are no message do not decode.
    for (const answer of [new common.BlockchainInfo().serializeBinary(), Uint8Array.of(0x0a, 0xff)]) {
      const unreadable = await clientAnswering(async () => answer).height().catch((err: unknown) => err);
      expect(unreadable).to.be.instanceOf(LedgerError).and.include({ code: 'LEDGER_ERROR' });
      expect((unreadable as Error).message).to.match(/qscc GetChainInfo returned no readable chain info/);
    }
  });
});
