/**
 * Two trust gaps of the chaincode on a real Fabric network (issue 13):
 *
 * - the consortium definition: one organisation alone cannot change it (its admin's approval is
 *   only recorded; endorsed by its own peer only, it fails validation), a majority of the
 *   members' admins can; the gateways' identities cannot approve at all. The change tried is a
 *   reordering of the organisations (equivalent: nobody's type changes), and the original order
 *   is restored, so other suites on the shared network see the same consortium;
 * - the transaction's timestamp: a proposal dated 10 minutes back or ahead, built, re-dated and
 *   signed here with the org's own key, is refused by the endorsing peers' chaincode with
 *   TRANSACTION_TIME_SKEWED and leaves the ledger as it was; the same proposal undated commits.
 *   (An hour is refused by the peer itself, before any chaincode runs.)
 *
 * @module
 */
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { connect, hash, signers, type Gateway } from '@hyperledger/fabric-gateway';
import { common, gateway as gatewayProtos, peer } from '@hyperledger/fabric-protos';
import { createHash, createPrivateKey, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LedgerClient, type OrgConnection } from '../../../gateway/src/fabric/client';
import { LedgerError, toLedgerError } from '../../../gateway/src/fabric/errors';
import { invokeChaincode, queryChaincode } from '../../../network/src/chaincode';
import { endorserFlags, ordererFlags, peerAsAdmin } from '../../../network/src/fabric-cli';
import { DEFAULT_TX_TIME_TOLERANCE_SECONDS } from '../../../chaincode/src/lib/tx-time';
import { stopTestNetwork, testNetwork, type TestNetwork } from './test-network';

interface Consortium {
  organisations: { mspId: string; type: string }[];
  revision: number;
  approvedBy: string[];
}

const HOUR_MS = 3_600_000;
/**
 * Twice the chaincode's default tolerance, and inside the 15 minutes Fabric's peer allows a
 * proposal's timestamp (`peer.authentication.timewindow`): the chaincode is what refuses it.
 */
const SKEW_MS = 2 * DEFAULT_TX_TIME_TOLERANCE_SECONDS * 1000;
const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

// The network is shared by every real-network spec file of the mocha run: stopped once, at the end.
after(async () => {
  await stopTestNetwork();
});

describe('real network: trust in the consortium definition and in transaction timestamps (issue 13)', function () {
  this.timeout(600_000);
  let net: TestNetwork;
  let original: Consortium;

  const readConsortium = async (): Promise<Consortium> => JSON.parse(await queryChaincode(net.network, 'Hospital', 'Identity:readConsortium'));
  /** An org's admin approves a definition through Fabric's own CLI, endorsed by every org's peer, and waits for the commit. */
  const approveAsAdmin = (org: string, definition: { organisations: unknown[] }) =>
    invokeChaincode(net.network, org, 'Identity:approveConsortiumChange', [JSON.stringify({ organisations: definition.organisations })]);
  const changeSeen = async (definition: { organisations: unknown[] }) =>
    JSON.parse(await queryChaincode(net.network, 'Sponsor', 'Identity:readConsortiumChange', [JSON.stringify({ organisations: definition.organisations })]));

  before(async () => {
    net = await testNetwork();
    original = await readConsortium();
  });

  after(async () => {
    // Only if a test stopped half-way: put the original order back by a majority, for the suites after this one.
    const now = net && original ? await readConsortium() : undefined;
    if (now && JSON.stringify(now.organisations) !== JSON.stringify(original.organisations)) {
      for (const org of ['Hospital', 'Insurer']) await approveAsAdmin(org, original).catch(() => undefined);
    }
  });

  describe('the consortium definition', () => {
    const reordered = () => ({ organisations: [...original.organisations].reverse() });

    it('was written by the deploy step as revision 1 of an admin, from consortium.json', () => {
      expect(original.organisations.map((o) => `${o.mspId}=${o.type}`)).to.have.members(net.network.definition.organisations.map((o) => `${o.mspId}=${o.type}`));
      expect(original.revision).to.be.a('number');
      expect(original.approvedBy.length).to.be.greaterThan(0);
    });

    it("refuses a gateway's identity (an org's client, not its admin): FORBIDDEN_NOT_ADMIN", async () => {
      const hospital = await LedgerClient.connect(net.network.gatewaySettings('Hospital').fabric);
      try {
        const refused = await hospital.submit('Identity:approveConsortiumChange', JSON.stringify(reordered())).then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(refused).to.be.instanceOf(LedgerError);
        expect((refused as LedgerError).code).to.equal('FORBIDDEN_NOT_ADMIN');
      } finally {
        hospital.close();
      }
      expect(await changeSeen(reordered())).to.equal(null);
    });

    it("one org's admin alone does not change it: the approval is recorded and the definition stays", async () => {
      await approveAsAdmin('Hospital', reordered());
      const seen = await changeSeen(reordered());
      expect(seen.change.approvals.map((a: { mspId: string }) => a.mspId)).to.deep.equal(['HospitalMSP']);
      expect(seen.stillNeeded).to.deep.equal({ members: 1, joining: [] });
      expect(await readConsortium()).to.deep.equal(original);
    });

    it("a completing approval endorsed by the approving org's own peer only fails validation: ENDORSEMENT_POLICY_FAILURE", async () => {
      const insurer = net.network.organisation('Insurer');
      const args = ['Identity:approveConsortiumChange', JSON.stringify(reordered())];
      const refused = await peerAsAdmin(
        net.network,
        insurer,
        ['chaincode', 'invoke', '-C', net.network.channel, '-n', net.network.chaincodeName, '-c', JSON.stringify({ function: args[0], Args: args.slice(1) }), ...ordererFlags(net.network), ...endorserFlags(net.network, [insurer]), '--waitForEvent'],
        undefined,
        60_000,
      ).then(
        () => undefined,
        (err: Error) => err,
      );
      expect(refused?.message).to.match(/ENDORSEMENT_POLICY_FAILURE/);
      expect(await readConsortium()).to.deep.equal(original);
      expect((await changeSeen(reordered())).change.approvals).to.have.length(1);
    });

    it("a second member's admin makes a majority: the change is in force as the next revision; a majority restores the original", async () => {
      await approveAsAdmin('Insurer', reordered());
      const changed = await readConsortium();
      expect(changed.organisations).to.deep.equal(reordered().organisations);
      expect(changed.revision).to.equal(original.revision + 1);
      expect(changed.approvedBy).to.deep.equal(['HospitalMSP', 'InsurerMSP']);

      await approveAsAdmin('Sponsor', original);
      expect((await readConsortium()).revision, 'the Sponsor alone changed nothing').to.equal(original.revision + 1);
      await approveAsAdmin('Insurer', original);
      const restored = await readConsortium();
      expect(restored.organisations).to.deep.equal(original.organisations);
      expect(restored.revision).to.equal(original.revision + 2);
    });
  });

  describe('transaction timestamps', () => {
    const recordId = `trust-${randomBytes(4).toString('hex')}`;
    const patientRef = sha256(`trust patient ${recordId}`);
    let hospital: DatedClient;
    let insurer: DatedClient;

    const accessLog = async (): Promise<{ txId: string; decision: string }[]> =>
      JSON.parse(await queryChaincode(net.network, 'Sponsor', 'Access:listAccessLog', ['HospitalMSP', patientRef]));

    before(async () => {
      hospital = await DatedClient.connect(net.network.gatewaySettings('Hospital').fabric);
      insurer = await DatedClient.connect(net.network.gatewaySettings('Insurer').fabric);
      const anchor = { recordId, docHash: sha256(randomBytes(32)), patientRef, category: 'loinc:18842-5' };
      expect((await hospital.submit(0, 'Records:anchorRecord', JSON.stringify(anchor))).successful).to.equal(true);
    });

    after(() => {
      hospital?.close();
      insurer?.close();
    });

    it('refuses an access dated 10 minutes back, and one dated 10 minutes ahead, with TRANSACTION_TIME_SKEWED; nothing is logged', async () => {
      for (const [skew, words] of [
        [-SKEW_MS, 'behind'],
        [SKEW_MS, 'ahead of'],
      ] as const) {
        const refused = await insurer.submit(skew, 'Access:accessRecord', 'HospitalMSP', recordId, 'claims').then(
          () => undefined,
          (err: unknown) => toLedgerError(err),
        );
        expect(refused, `skew ${skew} ms`).to.be.instanceOf(LedgerError);
        expect(refused?.code, refused?.message).to.equal('TRANSACTION_TIME_SKEWED');
        expect(refused?.message).to.include(`s ${words} this peer's clock`);
      }
      expect(await accessLog()).to.deep.equal([]);
    });

    it("leaves an hour's skew to the peer itself, which refuses proposals beyond its authentication time window (15 min by default)", async () => {
      for (const skew of [-HOUR_MS, HOUR_MS]) {
        const refused = await insurer.submit(skew, 'Access:accessRecord', 'HospitalMSP', recordId, 'claims').then(
          () => undefined,
          (err: unknown) => toLedgerError(err),
        );
        expect(refused?.message, `skew ${skew} ms`).to.match(/incorrect timestamp.*peer\.authentication\.timewindow/);
      }
      expect(await accessLog()).to.deep.equal([]);
    });

    it('commits the same access dated now (the re-signed proposal is sound): logged once, the record unchanged', async () => {
      const done = await insurer.submit(0, 'Access:accessRecord', 'HospitalMSP', recordId, 'claims');
      expect(done.successful).to.equal(true);
      expect(JSON.parse(Buffer.from(done.result).toString('utf8'))).to.include({ decision: 'NO_CONSENT' });
      const log = await accessLog();
      expect(log.map((e) => [e.txId, e.decision])).to.deep.equal([[done.transactionId, 'NO_CONSENT']]);
      const record = JSON.parse(await queryChaincode(net.network, 'Insurer', 'Records:readRecord', ['HospitalMSP', recordId, '']));
      expect(record).to.include({ version: 1, status: 'active', patientRef });
    });

    it('refuses a backdated anchor: the document stays unanchored', async () => {
      const docHash = sha256(randomBytes(32));
      const anchor = { recordId: `${recordId}-late`, docHash, patientRef, category: 'loinc:18842-5' };
      const refused = await hospital.submit(-SKEW_MS, 'Records:anchorRecord', JSON.stringify(anchor)).then(
        () => undefined,
        (err: unknown) => toLedgerError(err),
      );
      expect(refused?.code).to.equal('TRANSACTION_TIME_SKEWED');
      expect(JSON.parse(await queryChaincode(net.network, 'Insurer', 'Records:lookupByHash', [docHash]))).to.equal(null);
    });
  });
});

/**
 * A Fabric Gateway client that can date its proposals: it builds the proposal, moves the
 * timestamp in its channel header by `skewMs`, signs the new bytes with the org's own key
 * (ECDSA P-256 over SHA-256, low-S, DER: the SDK's own signer) and has it endorsed and
 * submitted. The transaction id depends on the nonce and creator only, so it stays valid.
 */
class DatedClient {
  private constructor(
    private readonly grpcClient: grpc.Client,
    private readonly gateway: Gateway,
    private readonly sign: (digest: Uint8Array) => Promise<Uint8Array>,
    private readonly connection: OrgConnection,
  ) {}

  static async connect(connection: OrgConnection): Promise<DatedClient> {
    const [tlsRoot, cert, key] = await Promise.all([fs.readFile(connection.tlsRootCertPath), fs.readFile(connection.certPath), readKey(connection.keyPath)]);
    const grpcClient = new grpc.Client(connection.peerEndpoint, grpc.credentials.createSsl(tlsRoot), { 'grpc.ssl_target_name_override': connection.peerHostAlias });
    const sign = signers.newPrivateKeySigner(createPrivateKey(key));
    const gateway = connect({ client: grpcClient, identity: { mspId: connection.mspId, credentials: cert }, signer: sign, hash: hash.sha256 });
    return new DatedClient(grpcClient, gateway, sign, connection);
  }

  /** Endorses and submits `name(args)` dated `skewMs` from now; resolves once committed (valid or not). */
  async submit(skewMs: number, name: string, ...args: string[]): Promise<{ successful: boolean; transactionId: string; result: Uint8Array }> {
    const contract = this.gateway.getNetwork(this.connection.channel).getContract(this.connection.chaincode);
    const unsigned = contract.newProposal(name, { arguments: args });
    const proposed = gatewayProtos.ProposedTransaction.deserializeBinary(unsigned.getBytes());
    const signedProposal = proposed.getProposal();
    if (!signedProposal) throw new Error('the SDK built a proposal without its signed proposal');
    const proposal = peer.Proposal.deserializeBinary(signedProposal.getProposalBytes_asU8());
    const header = common.Header.deserializeBinary(proposal.getHeader_asU8());
    const channelHeader = common.ChannelHeader.deserializeBinary(header.getChannelHeader_asU8());
    const timestamp = channelHeader.getTimestamp();
    if (!timestamp) throw new Error('the proposal has no timestamp');
    const millis = timestamp.getSeconds() * 1000 + Math.floor(timestamp.getNanos() / 1e6) + skewMs;
    timestamp.setSeconds(Math.floor(millis / 1000));
    timestamp.setNanos((millis % 1000) * 1e6);
    channelHeader.setTimestamp(timestamp);
    header.setChannelHeader(channelHeader.serializeBinary());
    proposal.setHeader(header.serializeBinary());
    const proposalBytes = proposal.serializeBinary();
    signedProposal.setProposalBytes(proposalBytes);
    proposed.setProposal(signedProposal);

    const signature = await this.sign(hash.sha256(proposalBytes));
    const dated = this.gateway.newSignedProposal(proposed.serializeBinary(), signature);
    expect(dated.getTransactionId()).to.equal(unsigned.getTransactionId());
    const transaction = await dated.endorse();
    const submitted = await transaction.submit();
    const status = await submitted.getStatus();
    return { successful: status.successful, transactionId: status.transactionId, result: submitted.getResult() };
  }

  close(): void {
    this.gateway.close();
    this.grpcClient.close();
  }
}

async function readKey(keyPath: string): Promise<Buffer> {
  if (!(await fs.stat(keyPath)).isDirectory()) return fs.readFile(keyPath);
  const files = (await fs.readdir(keyPath)).filter((f) => !f.startsWith('.'));
  if (files.length !== 1) throw new Error(`expected one private key in ${keyPath}, found ${files.length}`);
  return fs.readFile(path.join(keyPath, files[0]));
}
