import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  anchorToProvenance,
  anchorToProvenanceBundle,
  grantToConsent,
  grantsToConsentBundle,
  retractionToProvenance,
  type Consent,
  type Provenance,
} from '../../../gateway/src/fhir';
import { DAY, HOSPITAL, INSURER, SPONSOR, T0, grant, patientRef, revoked, v1, v2, v2Retracted } from './fixtures';
import { directIdentifiersIn, invariantErrors, r4Errors, schemaErrors } from './r4';

/**
 * Issue 4: consent grants as FHIR R4 Consent, record anchors as FHIR R4 Provenance, validated
 * against the official R4 JSON schema and the R4 invariants the schema cannot express.
 */

const expectValid = (resource: unknown): void => {
  expect(r4Errors(resource), JSON.stringify(resource, null, 1)).to.deep.equal([]);
};
const coding = (c: { coding?: { system: string; code: string }[] } | undefined) => c?.coding?.map((x) => `${x.system}|${x.code}`);

describe('FHIR R4 exports (issue 4)', function () {
  // the first compile of the R4 schema takes a few seconds
  this.timeout(60_000);

  describe('the validator is not vacuous', () => {
    it('rejects an unknown property, a wrong status code, a missing required element, a malformed dateTime and a broken invariant', () => {
      const good = grantToConsent(grant(), T0 + DAY);
      expectValid(good);
      expect(schemaErrors({ ...good, revokedAt: 'x' } as object).join()).to.match(/additional properties/);
      expect(schemaErrors({ ...good, status: 'revoked' } as object).join()).to.match(/allowed values/);
      const { scope: _scope, ...noScope } = good;
      expect(schemaErrors(noScope as object).join()).to.match(/scope/);
      expect(schemaErrors({ ...good, dateTime: '2026-01-01 10:00' } as object).join()).to.match(/pattern/);
      expect(schemaErrors({ ...good, provision: { ...good.provision, type: 'allow' } } as object).join()).to.match(/allowed values/);
      expect(schemaErrors({ ...good, resourceType: 'Konsent' } as object)).to.not.deep.equal([]);
      const { policyRule: _rule, ...noPolicy } = good;
      expect(schemaErrors(noPolicy as object), 'the schema cannot see ppc-1').to.deep.equal([]);
      expect(invariantErrors(noPolicy)).to.include('ppc-1: either a policy or a policyRule');
      const { patient: _p, ...noPatient } = good;
      expect(invariantErrors(noPatient).join()).to.match(/^ppc-2: /);
      expect(invariantErrors({ ...good, provision: { ...good.provision, period: { start: '2026-02-01T00:00:00Z', end: '2026-01-01T00:00:00Z' } } }).join()).to.match(/per-1/);
      expect(invariantErrors({ ...good, identifier: [] }).join()).to.match(/ele-1/);

      const prov = anchorToProvenance(v1);
      expectValid(prov);
      expect(schemaErrors({ ...prov, target: {} } as object)).to.not.deep.equal([]);
      expect(invariantErrors({ ...prov, target: [] }).join()).to.match(/Provenance.target is 1..\*/);
      expect(invariantErrors({ ...prov, agent: [] }).join()).to.match(/Provenance.agent is 1..\*/);
      const { recorded: _r, ...noRecorded } = prov;
      expect(invariantErrors(noRecorded).join()).to.match(/recorded is 1..1/);
      expect(schemaErrors({ ...prov, recorded: '2026-01-01' } as object).join(), 'recorded is an instant').to.match(/pattern/);
      expect(schemaErrors({ ...prov, extension: [{ url: 'urn:x', valueWhatever: 1 }] } as object).join()).to.match(/additional properties/);

      const bundle = anchorToProvenanceBundle(v2Retracted);
      expectValid(bundle);
      expect(r4Errors({ ...bundle, entry: [{ resource: { ...prov, status: 'active' } }] }).join()).to.match(/additional properties/);
      expect(r4Errors({ ...bundle, type: 'pile' }).join()).to.match(/allowed values/);
    });
  });

  describe('consent grant → Consent', () => {
    it('an active claims grant: status active, privacy scope, LOINC 59284-0, OPTIN, permit for the insurer with HPAYMT for the validity period', () => {
      const g = grant({ recordIds: ['adm-2026-0001'] });
      const c = grantToConsent(g, T0 + DAY);
      expectValid(c);
      expect(c.status).to.equal('active');
      expect(c.id).to.equal(g.grantId.slice(2));
      expect(c.identifier).to.deep.equal([{ use: 'official', system: 'urn:medprov:consent-grant', value: g.grantId }]);
      expect(coding(c.scope)).to.deep.equal(['http://terminology.hl7.org/CodeSystem/consentscope|patient-privacy']);
      expect(coding(c.category[0])).to.deep.equal(['http://loinc.org|59284-0']);
      expect(coding(c.policyRule)).to.deep.equal(['http://terminology.hl7.org/CodeSystem/v3-ActCode|OPTIN']);
      expect(c.patient).to.deep.equal({ type: 'Patient', identifier: { system: `urn:medprov:patient-ref:${HOSPITAL}`, value: patientRef } });
      expect(c.organization).to.deep.equal([{ type: 'Organization', identifier: { system: 'urn:medprov:msp', value: HOSPITAL } }]);
      expect(c.dateTime).to.equal(g.grantedAt);
      const p = c.provision!;
      expect(p.type).to.equal('permit');
      // [validFrom, validUntil): R4's end includes the second it names
      expect(p.period).to.deep.equal({ start: '2026-01-01T00:00:00Z', end: '2026-01-30T23:59:59Z' });
      expect(p.actor).to.have.length(1);
      expect(coding(p.actor![0]!.role)).to.deep.equal(['http://terminology.hl7.org/CodeSystem/v3-ParticipationType|IRCP']);
      expect(p.actor![0]!.reference).to.deep.equal({ type: 'Organization', identifier: { system: 'urn:medprov:msp', value: INSURER } });
      expect(p.purpose).to.deep.equal([{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HPAYMT', display: 'healthcare payment' }]);
      expect(coding(p.action![0])).to.deep.equal(['http://terminology.hl7.org/CodeSystem/consentaction|access']);
      expect(p.class).to.deep.equal([{ system: 'http://hl7.org/fhir/resource-types', code: 'DocumentReference' }]);
      expect(p.code!.map(coding)).to.deep.equal([['http://loinc.org|18842-5']]);
      expect(p.data).to.deep.equal([{ meaning: 'instance', reference: { type: 'DocumentReference', identifier: { system: `urn:medprov:record:${HOSPITAL}`, value: 'adm-2026-0001' } } }]);
      expect(p.extension).to.equal(undefined);
    });

    it('a treatment grant: TREAT; categories that are not LOINC keep medprov\'s code; a grant of record ids only has no code', () => {
      const c = grantToConsent(grant({ purpose: 'treatment', grantee: 'Hospital2MSP', categories: ['kr-edi:AA154', 'loinc:11502-2'] }), T0 + DAY);
      expectValid(c);
      expect(c.provision!.purpose!.map((x) => x.code)).to.deep.equal(['TREAT']);
      expect(c.provision!.code!.map(coding)).to.deep.equal([['urn:medprov:category|kr-edi:AA154'], ['http://loinc.org|11502-2']]);
      const onlyIds = grantToConsent(grant({ categories: [], recordIds: ['r-1', 'r/2#x'] }), T0 + DAY);
      expectValid(onlyIds);
      expect(onlyIds.provision!.code).to.equal(undefined);
      expect(onlyIds.provision!.data!.map((d) => d.reference.identifier!.value)).to.deep.equal(['r-1', 'r/2#x']);
    });

    it('a research grant: research scope, HRESCH, the trial id kept as the ResearchStudy of the provision; ppc-3 holds', () => {
      const c = grantToConsent(grant({ purpose: 'research:KCT-0009.2', grantee: SPONSOR }), T0 + DAY);
      expectValid(c);
      expect(coding(c.scope)).to.deep.equal(['http://terminology.hl7.org/CodeSystem/consentscope|research']);
      expect(c.provision!.purpose!.map((x) => x.code)).to.deep.equal(['HRESCH']);
      expect(c.provision!.extension).to.deep.equal([
        {
          url: 'http://hl7.org/fhir/StructureDefinition/consent-ResearchStudyContext',
          valueReference: { type: 'ResearchStudy', identifier: { system: `urn:medprov:trial:${SPONSOR}`, value: 'KCT-0009.2' } },
        },
      ]);
      expect(invariantErrors({ ...c, patient: undefined }).join()).to.match(/ppc-3/);
    });

    it('a revoked grant is inactive from then on, with the revocation as lastUpdated; its terms are kept', () => {
      const g = revoked(grant());
      const c = grantToConsent(g, T0 + 3 * DAY);
      expectValid(c);
      expect(c.status).to.equal('inactive');
      expect(c.meta).to.deep.equal({ lastUpdated: g.revocation!.at });
      expect(c.provision!.period).to.deep.equal(grantToConsent(grant(), T0).provision!.period);
    });

    it('expiry is decided at the caller\'s "as of": active up to validUntil − 1 s, inactive at validUntil; active (with its period) before it starts', () => {
      const g = grant();
      expect(grantToConsent(g, g.validUntil - 1).status).to.equal('active');
      const expired = grantToConsent(g, g.validUntil);
      expectValid(expired);
      expect(expired.status).to.equal('inactive');
      expect(expired.meta).to.deep.equal({ lastUpdated: g.grantedAt });
      const future = grantToConsent(grant({ validFrom: T0 + 10 * DAY, validUntil: T0 + 11 * DAY }), T0);
      expect(future.status).to.equal('active');
      expect(future.provision!.period).to.deep.equal({ start: '2026-01-11T00:00:00Z', end: '2026-01-11T23:59:59Z' });
      // deterministic: same input, same JSON
      expect(JSON.stringify(grantToConsent(g, T0 + 1))).to.equal(JSON.stringify(grantToConsent(structuredClone(g), T0 + 1)));
    });

    it('a purpose the mapping does not know is refused rather than exported without a purpose', () => {
      expect(() => grantToConsent(grant({ purpose: 'marketing' }), T0)).to.throw(/^FHIR_UNMAPPED_PURPOSE: /);
    });

    it("a patient's grants as one Bundle (collection) with the time it stands at", () => {
      const grants = [grant(), revoked(grant({ purpose: 'research:trial-1', grantee: SPONSOR })), grant({ validUntil: T0 + DAY })];
      const b = grantsToConsentBundle(grants, T0 + 2 * DAY);
      expectValid(b);
      expect(b.timestamp).to.equal('2026-01-03T00:00:00Z');
      expect(b.entry!.map((e) => e.resource.status)).to.deep.equal(['active', 'inactive', 'inactive']);
      const empty = grantsToConsentBundle([], T0);
      expectValid(empty);
      expect(empty.entry).to.equal(undefined);
    });
  });

  describe('record anchor → Provenance', () => {
    it('version 1: CREATE by the issuing hospital, recorded at anchoring, target the version by its SHA-256, the ledger transaction kept', () => {
      const p = anchorToProvenance(v1);
      expectValid(p);
      expect(p.target).to.deep.equal([
        { type: 'DocumentReference', identifier: { system: 'urn:medprov:document-sha256', value: v1.docHash }, display: `record adm-2026-0001 of ${HOSPITAL}, version 1` },
      ]);
      expect(p.recorded).to.equal(v1.anchoredAt);
      expect(coding(p.activity)).to.deep.equal(['http://terminology.hl7.org/CodeSystem/v3-DataOperation|CREATE']);
      expect(p.agent).to.deep.equal([
        {
          type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author', display: 'Author' }] },
          who: { type: 'Organization', identifier: { system: 'urn:medprov:msp', value: HOSPITAL } },
        },
      ]);
      expect(p.extension).to.deep.equal([{ url: 'urn:medprov:fhir:StructureDefinition:ledger-transaction', valueIdentifier: { system: 'urn:medprov:fabric-tx', value: 'tx000010' } }]);
      expect(p.entity).to.equal(undefined);
      expect(retractionToProvenance(v1)).to.equal(undefined);
      expect(anchorToProvenanceBundle(v1).entry!.map((e) => e.resource)).to.deep.equal([p]);
    });

    it('an amendment: UPDATE, naming the version it supersedes as the revised entity', () => {
      const p = anchorToProvenance(v2);
      expectValid(p);
      expect(coding(p.activity)).to.deep.equal(['http://terminology.hl7.org/CodeSystem/v3-DataOperation|UPDATE']);
      expect(p.entity).to.deep.equal([
        { role: 'revision', what: { type: 'DocumentReference', identifier: { system: 'urn:medprov:document-sha256', value: v1.docHash }, display: `record adm-2026-0001 of ${HOSPITAL}, version 1` } },
      ]);
    });

    it('a retracted version: its anchoring, then NULLIFY at the retraction with the reason, oldest first', () => {
      const b = anchorToProvenanceBundle(v2Retracted);
      expectValid(b);
      const [anchoring, retraction] = b.entry!.map((e) => e.resource) as [Provenance, Provenance];
      expect(b.entry).to.have.length(2);
      expect(anchoring).to.deep.equal(anchorToProvenance(v2));
      expect(coding(retraction.activity)).to.deep.equal(['http://terminology.hl7.org/CodeSystem/v3-DataOperation|NULLIFY']);
      expect(retraction.recorded).to.equal(v2Retracted.retraction!.at);
      expect(retraction.reason!.map(coding)).to.deep.equal([['urn:medprov:retraction-reason|wrong-patient']]);
      expect(retraction.target).to.deep.equal(anchoring.target);
      expect(retraction.extension![0]!.valueIdentifier!.value).to.equal('tx000030');
      expect(coding(retraction.agent[0]!.type)).to.deep.equal(['http://terminology.hl7.org/CodeSystem/provenance-participant-type|performer']);
    });
  });

  describe('privacy', () => {
    it('no direct identifier, no patient key address, no signature or nonce in any export; the patient appears only as patientRef', () => {
      const g = revoked(grant({ recordIds: ['adm-2026-0001'] }));
      const exports: unknown[] = [
        grantToConsent(g, T0 + DAY),
        grantToConsent(grant({ purpose: 'research:trial-7', grantee: SPONSOR }), T0),
        anchorToProvenanceBundle(v1),
        anchorToProvenanceBundle(v2Retracted),
      ];
      // (the detector is the privacy layer's own, and it does see identifiers put where they must not be)
      const leaky = { ...(exports[0] as Consent), patient: { type: 'Patient', identifier: { system: 'urn:x', value: '900101-1234567' } }, dateTime: 'kim@example.kr' };
      expect(directIdentifiersIn(leaky)).to.deep.equal(['$.patient.identifier.value: resident-registration-number', '$.dateTime: email']);
      for (const e of exports) {
        expect(directIdentifiersIn(e)).to.deep.equal([]);
        const text = JSON.stringify(e).toLowerCase();
        for (const secret of [g.patient, g.signature, g.nonce, g.revocation!.signature, g.revocation!.nonce]) expect(text).to.not.include(secret.toLowerCase().slice(2));
        expect(text).to.not.match(/"(name|birthdate|gender|telecom|address)"/);
      }
      const consent = exports[0] as Consent;
      const patientish = JSON.stringify(consent).match(/urn:medprov:patient-ref:[^"]+"[^}]*/g) ?? [];
      expect(patientish.length).to.be.greaterThan(0);
      for (const p of patientish) expect(p).to.include(patientRef);
      // Provenance does not name the patient at all
      expect(JSON.stringify(exports[2])).to.not.include(patientRef);
    });

    it('the mapping module is browser-safe: no Node built-in and no npm package at runtime', () => {
      const dir = path.resolve(__dirname, '../../../gateway/src/fhir');
      for (const file of ['index.ts', 'common.ts', 'consent.ts', 'provenance.ts', 'types.ts']) {
        const text = readFileSync(path.join(dir, file), 'utf8');
        const runtime = [...text.matchAll(/^\s*(?:import|export)\s+(?!type\b)(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
        expect(runtime.filter((s) => !s.startsWith('.')), file).to.deep.equal([]);
        expect(runtime.filter((s) => s.startsWith('../') && !s.endsWith('chaincode/src/lib/consent-model')), file).to.deep.equal([]);
      }
    });
  });
});
