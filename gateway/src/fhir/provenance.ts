import type { RecordAnchor } from '../../../chaincode/src/lib/record-model';
import { MEDPROV_SYSTEMS, collectionBundle, organisationReference } from './common';
import type { Bundle, Coding, Extension, Provenance, Reference } from './types';

const DATA_OPERATION = 'http://terminology.hl7.org/CodeSystem/v3-DataOperation';
const PARTICIPANT_TYPE = 'http://terminology.hl7.org/CodeSystem/provenance-participant-type';

const CREATE: Coding = { system: DATA_OPERATION, code: 'CREATE', display: 'create' };
const UPDATE: Coding = { system: DATA_OPERATION, code: 'UPDATE', display: 'revise' };
const NULLIFY: Coding = { system: DATA_OPERATION, code: 'NULLIFY', display: 'nullify' };

/** One version of a record as an R4 DocumentReference reference: by the document's SHA-256, its version-specific identifier. */
function versionReference(docHash: string, anchor: Pick<RecordAnchor, 'issuer' | 'recordId' | 'version'>): Reference {
  return {
    type: 'DocumentReference',
    identifier: { system: MEDPROV_SYSTEMS.documentSha256, value: docHash },
    display: `record ${anchor.recordId} of ${anchor.issuer}, version ${anchor.version}`,
  };
}

function ledgerTransaction(txId: string): Extension[] {
  return [{ url: MEDPROV_SYSTEMS.ledgerTransactionExtension, valueIdentifier: { system: MEDPROV_SYSTEMS.ledgerTransaction, value: txId } }];
}

/**
 * How one anchored record version came to be, as an R4 `Provenance`:
 * - `target` ← the version, a DocumentReference by its SHA-256 (`urn:medprov:document-sha256`);
 * - `recorded` ← anchoredAt, the ledger transaction's time;
 * - `activity` ← v3-DataOperation CREATE for version 1, UPDATE (an amendment) after it, with
 *   `entity` role `revision` naming the version it supersedes (by its SHA-256);
 * - `agent` ← the issuing hospital, provenance-participant-type `author`, by MSP ID;
 * - the ledger transaction id in the `urn:medprov:fhir:StructureDefinition:ledger-transaction`
 *   extension (R4 Provenance has no identifier element).
 * The patient is not named at all (R4 Provenance has no patient element), not even by patientRef.
 * Pure and browser-safe.
 */
export function anchorToProvenance(anchor: RecordAnchor): Provenance {
  const amended = anchor.version > 1;
  return {
    resourceType: 'Provenance',
    extension: ledgerTransaction(anchor.txId),
    target: [versionReference(anchor.docHash, anchor)],
    recorded: anchor.anchoredAt,
    activity: { coding: [amended ? UPDATE : CREATE] },
    agent: [{ type: { coding: [{ system: PARTICIPANT_TYPE, code: 'author', display: 'Author' }] }, who: organisationReference(anchor.issuer) }],
    ...(amended && anchor.supersedes !== undefined
      ? { entity: [{ role: 'revision' as const, what: versionReference(anchor.supersedes, { ...anchor, version: anchor.version - 1 }) }] }
      : {}),
  };
}

/**
 * The retraction of a record version, as an R4 `Provenance`: activity v3-DataOperation
 * NULLIFY (the version is to be treated as void), `recorded` ← the retraction's ledger time,
 * `reason` ← the issuer's reason code (`urn:medprov:retraction-reason`), `agent` ← the
 * issuer as `performer`. Undefined for a version that is not retracted.
 */
export function retractionToProvenance(anchor: RecordAnchor): Provenance | undefined {
  const retraction = anchor.retraction;
  if (anchor.status !== 'retracted' || !retraction) return undefined;
  return {
    resourceType: 'Provenance',
    extension: ledgerTransaction(retraction.txId),
    target: [versionReference(anchor.docHash, anchor)],
    recorded: retraction.at,
    reason: [{ coding: [{ system: MEDPROV_SYSTEMS.retractionReason, code: retraction.reason }] }],
    activity: { coding: [NULLIFY] },
    agent: [{ type: { coding: [{ system: PARTICIPANT_TYPE, code: 'performer', display: 'Performer' }] }, who: organisationReference(anchor.issuer) }],
  };
}

/**
 * Everything the ledger says about how one record version came to be and stands, oldest
 * first, in one Bundle (type collection): its anchoring (CREATE or UPDATE), and its
 * retraction (NULLIFY) when there is one. A version superseded by an amendment has only its
 * own anchoring here; the amendment's Provenance names it as the revised entity.
 */
export function anchorToProvenanceBundle(anchor: RecordAnchor): Bundle<Provenance> {
  const retraction = retractionToProvenance(anchor);
  return collectionBundle(retraction ? [anchorToProvenance(anchor), retraction] : [anchorToProvenance(anchor)]);
}
