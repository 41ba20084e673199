/**
 * Fabric's own `peer` CLI as an independent client (issue 13): no medprov client code between
 * the test and the ledger. Consent grants are invoked straight at the chaincode; a patched
 * chaincode run by two organisations tries to change the Hospital's record; every anchor the
 * Hospital's gateway reports as committed is read back as each organisation.
 *
 * Shares the run's test network with the other real-network files: whatever this file changes
 * (the chaincode definition's packages) it restores, and it stops the network only in `after`.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { TypedDataEncoder, Wallet } from 'ethers';
import {
  approvedPackageIds,
  committedDefinition,
  installChaincode,
  invokeChaincode,
  packageChaincodeService,
  queryChaincode,
  redefineChaincode,
  type ChaincodePackage,
  type CommittedDefinition,
} from '../../../network/src/chaincode';
import { channelHeight } from '../../../network/src/channel';
import { write } from './support/gateway-http';
import { patchedServerAddress, startPatchedServer, type PatchedServer } from './support/patched-chaincode-server';
import { consentDomainOf, freshNonce, GRANT_TYPES, malleated, registerPatient, signGrant, type Grant, type RegisteredPatient, type SignedGrant } from './support/patient';
import { ledgerTransaction, refusalOf } from './support/peer-cli';
import { stopTestNetwork, testNetwork, type TestNetwork } from './test-network';

const DAY = 86_400;
/** LOINC 18842-5, discharge summary. */
const DISCHARGE = 'loinc:18842-5';
const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** The fields every record anchor carries (the README's ledger data), compared one by one. */
const ANCHOR_FIELDS = ['docHash', 'recordId', 'version', 'issuer', 'patientRef', 'category', 'status', 'anchoredAt', 'txId'] as const;

/** `actual` equals `expected` field by field (the named fields must be there; no field may differ, be missing or be extra). */
function expectSameAnchor(actual: Record<string, unknown>, expected: Record<string, unknown>, who: string): void {
  for (const field of ANCHOR_FIELDS) expect(expected, `the gateway's answer names ${field}`).to.have.property(field);
  for (const field of new Set([...Object.keys(expected), ...Object.keys(actual)])) {
    expect(actual[field], `${who}: ${field}`).to.deep.equal(expected[field]);
  }
}

// The network is shared by every real-network spec file of the mocha run: stopped once, at the end.
after(async () => {
  await stopTestNetwork();
});

describe("Fabric's own peer CLI as an independent client: no medprov code between the test and the ledger", function () {
  this.timeout(600_000);
  let net: TestNetwork;
  const orgNames = (): string[] => net.network.definition.organisations.map((o) => o.name);

  before(async () => {
    net = await testNetwork();
  });

  describe("consent grants invoked straight at the chaincode (peer chaincode invoke as the Insurer's admin, every org's peer endorsing)", () => {
    let patient: RegisteredPatient;
    let accepted: SignedGrant;
    let grantsAfterAcceptance: string;
    let heightsAfterAcceptance: number[];
    /** The nonce every refused grant carries (but the replayed one): still unused afterwards if no refusal wrote anything. */
    const refusedNonce = freshNonce();

    const grantFor = (overrides: Partial<Grant> = {}): Grant => ({
      hospital: patient.hospital,
      patientRef: patient.patientRef,
      grantee: 'InsurerMSP',
      purpose: 'claims',
      categories: [DISCHARGE],
      recordIds: [],
      validFrom: nowSeconds() - 300,
      validUntil: nowSeconds() + 30 * DAY,
      nonce: refusedNonce,
      ...overrides,
    });
    const invokeGrant = (grant: SignedGrant): Promise<string> => invokeChaincode(net.network, 'Insurer', 'Consent:grantConsent', [JSON.stringify(grant)]);
    const listGrants = (org = 'Hospital'): Promise<string> => queryChaincode(net.network, org, 'Consent:listGrants', [patient.hospital, patient.patientRef]);
    const heights = (): Promise<number[]> => Promise.all(net.network.peers.map((p) => channelHeight(net.network, p)));

    before(async () => {
      patient = await registerPatient(net.gateway('Hospital', 'records-officer'), `MRN-PC-${randomBytes(4).toString('hex')}`);
      // The gateway's request is in the domain the README documents: the grants below are signed in it independently.
      expect(patient.domain).to.deep.equal(consentDomainOf(net.network.channel));
    });

    it('accepts the grant the patient signed: every org reads it back, and the Insurer is permitted', async () => {
      accepted = await signGrant(patient.wallet, patient.domain, grantFor({ nonce: freshNonce() }));
      await invokeGrant(accepted);
      const grantId = TypedDataEncoder.hash(patient.domain, GRANT_TYPES, accepted.message);
      for (const org of orgNames()) {
        const grants = JSON.parse(await listGrants(org)) as Record<string, unknown>[];
        expect(grants, org).to.have.length(1);
        expect(grants[0], org).to.include({ grantId, patient: patient.wallet.address, status: 'active', submittedBy: 'InsurerMSP', nonce: accepted.message.nonce, signature: accepted.signature });
      }
      const decision = JSON.parse(await queryChaincode(net.network, 'Insurer', 'Consent:checkConsent', [patient.hospital, patient.patientRef, 'InsurerMSP', 'claims', DISCHARGE, '']));
      expect(decision).to.include({ decision: 'PERMIT', grantId });
      grantsAfterAcceptance = await listGrants();
      heightsAfterAcceptance = await heights();
    });

    const refusals: { what: string; code: string; sentence: string; grant: () => Promise<SignedGrant> }[] = [
      {
        what: 'a forged signature (made with another key than the patient’s)',
        code: 'SIGNER_NOT_PATIENT',
        sentence: 'not made with the key bound to this patientRef',
        grant: () => signGrant(Wallet.createRandom(), patient.domain, grantFor()),
      },
      {
        what: 'a forged signature (the high-s twin of the patient’s own)',
        code: 'SIGNATURE_INVALID',
        sentence: 'low s',
        grant: async () => {
          const genuine = await signGrant(patient.wallet, patient.domain, grantFor());
          return { ...genuine, signature: malleated(genuine.signature) };
        },
      },
      {
        what: 'a replayed nonce (a new grant, signed by the patient, with the accepted grant’s nonce)',
        code: 'NONCE_REUSED',
        sentence: 'already used by this patient key',
        grant: () => signGrant(patient.wallet, patient.domain, grantFor({ categories: ['loinc:11506-3'], nonce: accepted.message.nonce })),
      },
      {
        what: 'an expired validity (signed by the patient, ended yesterday)',
        code: 'INVALID_ARGUMENT',
        sentence: 'grant.message.validUntil has already passed',
        grant: () => signGrant(patient.wallet, patient.domain, grantFor({ validFrom: nowSeconds() - 2 * DAY, validUntil: nowSeconds() - DAY })),
      },
      {
        what: 'a wrong grantee (signed for the Insurer, submitted naming the Sponsor)',
        code: 'SIGNER_NOT_PATIENT',
        sentence: 'not made with the key bound to this patientRef',
        grant: async () => {
          const signed = await signGrant(patient.wallet, patient.domain, grantFor());
          return { ...signed, message: { ...signed.message, grantee: 'SponsorMSP' } };
        },
      },
      {
        what: 'a wrong grantee (signed by the patient for an organisation outside the consortium)',
        code: 'ORG_NOT_IN_CONSORTIUM',
        sentence: 'AcmeInsuranceMSP is not a member of the consortium',
        grant: () => signGrant(patient.wallet, patient.domain, grantFor({ grantee: 'AcmeInsuranceMSP' })),
      },
      {
        what: 'a wrong channel (signed by the patient in the EIP-712 domain of channel "medprov-staging")',
        code: 'SIGNER_NOT_PATIENT',
        sentence: 'not made with the key bound to this patientRef',
        grant: () => signGrant(patient.wallet, consentDomainOf('medprov-staging'), grantFor()),
      },
    ];

    for (const refusal of refusals) {
      it(`refuses ${refusal.what}: ${refusal.code}, and the grants stay as they were`, async () => {
        const refused = await refusalOf(invokeGrant(await refusal.grant()));
        expect({ code: refused.code, stage: refused.stage }, refused.output).to.deep.equal({ code: refusal.code, stage: 'endorsement' });
        expect(refused.sentence).to.include(refusal.sentence);
        expect(await listGrants()).to.equal(grantsAfterAcceptance);
      });
    }

    it('wrote nothing for any refusal: no block on any peer, and the nonce the refused grants carried is still unused', async () => {
      expect(await heights()).to.deep.equal(heightsAfterAcceptance);
      // Had a refused grant been written, its nonce would be spent and this grant refused NONCE_REUSED.
      const research = await signGrant(patient.wallet, patient.domain, grantFor({ grantee: 'SponsorMSP', purpose: 'research:trial-pc-1' }));
      await invokeGrant(research);
      const decision = JSON.parse(await queryChaincode(net.network, 'Sponsor', 'Consent:checkConsent', [patient.hospital, patient.patientRef, 'SponsorMSP', 'research:trial-pc-1', DISCHARGE, '']));
      expect(decision).to.include({ decision: 'PERMIT', grantId: TypedDataEncoder.hash(patient.domain, GRANT_TYPES, research.message) });
    });

    it('answers the very same signed grant sent again with the existing grant, and adds none', async () => {
      const before = await listGrants();
      await invokeGrant(accepted);
      const after = JSON.parse(await listGrants()) as { grantId: string }[];
      expect(after).to.have.length(2);
      expect(after).to.deep.equal(JSON.parse(before));
    });
  });

  describe("a single org cannot write another org's record, even with patched chaincode", () => {
    const recordId = `pc-sbe-${randomBytes(4).toString('hex')}`;
    const forgedHash = sha256(`forged amendment ${recordId}`);
    let anchor: Record<string, unknown>;
    let genuineIds: Record<string, string>;
    /** The definition in force before the patch. */
    let initial: CommittedDefinition;
    let patched: ChaincodePackage;
    let server: PatchedServer | undefined;
    let restored = true;

    const amendment = (): string => JSON.stringify({ issuer: 'HospitalMSP', recordId, docHash: forgedHash, category: DISCHARGE });
    const dishonest = () => [net.network.organisation('Insurer'), net.network.organisation('Sponsor')];
    /** The genuine package everywhere (after a failure half-way too): what the other test files expect to find. */
    const restore = async (): Promise<CommittedDefinition | undefined> => {
      let definition: CommittedDefinition | undefined;
      const now = await approvedPackageIds(net.network);
      if (Object.keys(genuineIds).some((org) => now[org] !== genuineIds[org])) definition = await redefineChaincode(net.network, genuineIds, net.progress);
      await server?.stop();
      server = undefined;
      restored = true;
      return definition;
    };

    after(async () => {
      if (!restored) await restore();
    });

    it('lets the Insurer and the Sponsor run a patched chaincode of their own: each org approves its own package for the same definition', async () => {
      const anchored = await write(net.gateway('Hospital', 'records-officer'), 'POST', '/v1/records', {
        recordId,
        docHash: sha256(`discharge ${recordId}`),
        patientId: 'MRN-PC-SBE',
        category: DISCHARGE,
        commitment: 'plain',
      });
      expect(anchored.status, JSON.stringify(anchored.body)).to.equal(201);
      anchor = anchored.body.anchor;

      genuineIds = await approvedPackageIds(net.network);
      expect(new Set(Object.values(genuineIds)).size, 'one genuine package, approved by every org').to.equal(1);
      initial = (await committedDefinition(net.network)) as CommittedDefinition;

      const address = await patchedServerAddress(net.network);
      patched = await packageChaincodeService(net.network, { label: `${net.network.chaincodeName}_patched_${randomBytes(3).toString('hex')}`, version: initial.version, address });
      await installChaincode(net.network, patched, net.progress, dishonest().flatMap((org) => net.network.peersOf(org)));
      server = await startPatchedServer(net.network, address, patched.packageId);
      restored = false;
      const definition = await redefineChaincode(net.network, { Hospital: genuineIds.Hospital, Insurer: patched.packageId, Sponsor: patched.packageId }, net.progress);
      expect(definition).to.deep.equal({ sequence: initial.sequence + 1, version: initial.version });
      expect(await approvedPackageIds(net.network)).to.deep.equal({ Hospital: genuineIds.Hospital, Insurer: patched.packageId, Sponsor: patched.packageId });

      // Which code each peer runs: the patched one simulates the Insurer's amendment, the genuine one refuses it.
      for (const org of dishonest()) {
        const simulated = JSON.parse(await queryChaincode(net.network, 'Insurer', 'Records:amendRecord', [amendment()], { peer: net.network.peersOf(org)[0] }));
        expect(simulated.anchor, `${org.name}'s peer runs the patched chaincode`).to.include({ issuer: 'HospitalMSP', recordId, docHash: forgedHash, version: 2 });
      }
      const hospitalPeer = net.network.peersOf(net.network.organisation('Hospital'))[0];
      const genuine = await refusalOf(queryChaincode(net.network, 'Insurer', 'Records:amendRecord', [amendment()], { peer: hospitalPeer }));
      expect(genuine.code, "the Hospital's peer runs the genuine chaincode").to.equal('FORBIDDEN_ORG_TYPE');
    });

    it("fails an amend of the Hospital's record endorsed by the Insurer's and the Sponsor's peers at commit: ENDORSEMENT_POLICY_FAILURE, the record unchanged", async () => {
      const refused = await refusalOf(invokeChaincode(net.network, 'Insurer', 'Records:amendRecord', [amendment()], { endorsers: dishonest() }));
      expect({ code: refused.code, stage: refused.stage }, refused.output).to.deep.equal({ code: 'ENDORSEMENT_POLICY_FAILURE', stage: 'validation' });
      for (const org of orgNames()) {
        expectSameAnchor(JSON.parse(await queryChaincode(net.network, org, 'Records:readRecord', ['HospitalMSP', recordId, ''])), anchor, `${org}: latest version`);
        expect(JSON.parse(await queryChaincode(net.network, org, 'Records:recordHistory', ['HospitalMSP', recordId])), org).to.have.length(1);
        expect(JSON.parse(await queryChaincode(net.network, org, 'Records:lookupByHash', [forgedHash])), org).to.equal(null);
      }
    });

    it("fails a retraction of the Hospital's record endorsed the same way: ENDORSEMENT_POLICY_FAILURE, the record still active", async () => {
      const refused = await refusalOf(invokeChaincode(net.network, 'Sponsor', 'Records:retractRecord', ['HospitalMSP', recordId, 'entered-in-error'], { endorsers: dishonest() }));
      expect({ code: refused.code, stage: refused.stage }, refused.output).to.deep.equal({ code: 'ENDORSEMENT_POLICY_FAILURE', stage: 'validation' });
      for (const org of orgNames()) {
        expectSameAnchor(JSON.parse(await queryChaincode(net.network, org, 'Records:readRecord', ['HospitalMSP', recordId, ''])), anchor, `${org}: latest version`);
      }
    });

    it('restores the genuine package everywhere (the next sequence), stops the patched server, and normal writes go through', async () => {
      const definition = await restore();
      expect(definition).to.deep.equal({ sequence: initial.sequence + 2, version: initial.version });
      expect(await approvedPackageIds(net.network)).to.deep.equal(genuineIds);
      for (const peer of net.network.peers) {
        const refused = await refusalOf(queryChaincode(net.network, 'Insurer', 'Records:amendRecord', [amendment()], { peer }));
        expect(refused.code, `${peer.name} runs the genuine chaincode again`).to.equal('FORBIDDEN_ORG_TYPE');
      }
      await invokeChaincode(net.network, 'Sponsor', 'Identity:whoAmI');
      const amended = await write(net.gateway('Hospital', 'records-officer'), 'POST', `/v1/records/HospitalMSP/${recordId}/versions`, { docHash: sha256(`amended ${recordId}`), category: DISCHARGE });
      expect(amended.status, JSON.stringify(amended.body)).to.equal(201);
      expect(amended.body.anchor).to.include({ version: 2, supersedes: anchor.docHash });
    });
  });

  describe('every anchor the Hospital gateway reports as committed reads back the same through peer chaincode query, as every org', () => {
    /** Reads `reported` back as each org: the version, the latest, by hash, and its transaction (valid, in the reported block) from qscc. */
    async function expectOnLedger(reported: Record<string, unknown>, blockNumber: string): Promise<void> {
      const { issuer, recordId, version, docHash, txId } = reported as { issuer: string; recordId: string; version: number; docHash: string; txId: string };
      for (const org of orgNames()) {
        expectSameAnchor(JSON.parse(await queryChaincode(net.network, org, 'Records:readRecord', [issuer, recordId, String(version)])), reported, `${org}: readRecord ${recordId} v${version}`);
        expectSameAnchor(JSON.parse(await queryChaincode(net.network, org, 'Records:readRecord', [issuer, recordId, ''])), reported, `${org}: readRecord ${recordId} latest`);
        expectSameAnchor(JSON.parse(await queryChaincode(net.network, org, 'Records:lookupByHash', [docHash])), reported, `${org}: lookupByHash ${docHash}`);
        expect(await ledgerTransaction(net.network, org, txId), `${org}: transaction ${txId}`).to.deep.equal({ validation: 'VALID', blockNumber: BigInt(blockNumber) });
      }
    }

    it('single anchors: one by hash (JSON) and one uploaded (salted by default)', async () => {
      const officer = net.gateway('Hospital', 'records-officer');
      const byHash = await write(officer, 'POST', '/v1/records', { recordId: `pc-one-${randomBytes(4).toString('hex')}`, docHash: sha256(randomBytes(32)), patientId: 'MRN-PC-1', category: DISCHARGE, commitment: 'plain' });
      const form = new FormData();
      for (const [k, v] of Object.entries({ recordId: `pc-up-${randomBytes(4).toString('hex')}`, patientId: 'MRN-PC-2', category: 'loinc:11502-2' })) form.append(k, v);
      form.append('document', new Blob([`lab report ${randomBytes(16).toString('hex')}`]), 'lab.txt');
      const uploaded = await write(officer, 'POST', '/v1/records', form);
      for (const answer of [byHash, uploaded]) {
        expect(answer.status, JSON.stringify(answer.body)).to.equal(201);
        expect(answer.body.anchor).to.include({ issuer: 'HospitalMSP', version: 1, status: 'active' });
        await expectOnLedger(answer.body.anchor, answer.body.blockNumber);
      }
      expect(uploaded.body.commitment, 'a small upload is salted').to.equal('salted');
    });

    it('a batch through /v1/records/batch: every anchor of it, one transaction', async () => {
      const records = Array.from({ length: 5 }, (_, i) => ({ recordId: `pc-batch-${randomBytes(4).toString('hex')}-${i}`, docHash: sha256(randomBytes(32)), patientId: `MRN-PC-B${i}`, category: DISCHARGE, commitment: 'plain' }));
      const answer = await write(net.gateway('Hospital', 'records-officer'), 'POST', '/v1/records/batch', { records });
      expect(answer.status, JSON.stringify(answer.body)).to.equal(201);
      const anchors = answer.body.anchors as Record<string, unknown>[];
      expect(anchors.map((a) => a.recordId)).to.deep.equal(records.map((r) => r.recordId));
      expect(new Set(anchors.map((a) => a.txId)).size, 'one transaction').to.equal(1);
      for (const reported of anchors) await expectOnLedger(reported, answer.body.blockNumber);
    });
  });
});
