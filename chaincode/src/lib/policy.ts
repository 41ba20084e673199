import { Contract, Context } from 'fabric-contract-api';
import { ChaincodeError } from './errors';
import { CA_ENROLLMENT_ATTRIBUTE, CERTIFIED_ROLES, ROLE_ATTRIBUTE } from './certified-roles';
import { callerOrgType, type OrgType } from './consortium';

// open: any identity the channel's MSPs accept, even before the consortium is defined.
type Rule = { open: true } | { anyMember: true } | { orgTypes: readonly OrgType[] };

/**
 * Who may call what: the one place the chaincode decides by organisation type. A transaction
 * that is not in this table is refused, so a new transaction cannot ship without a rule.
 */
export const TRANSACTION_RULES: Readonly<Record<string, Rule>> = {
  'Identity:whoAmI': { open: true },
  'Identity:readConsortium': { anyMember: true },
  // Before any definition exists, so no type to check: the contract requires an admin of a listed org.
  'Identity:initConsortium': { open: true },
  // Open to an organisation the change adds, which is no member yet: the contract requires the
  // admin of a member or of an added organisation, and a majority of the members to agree.
  'Identity:approveConsortiumChange': { open: true },
  'Identity:readConsortiumChange': { anyMember: true },
  'Records:anchorRecord': { orgTypes: ['hospital'] },
  'Records:anchorRecords': { orgTypes: ['hospital'] },
  'Records:anchorEach': { orgTypes: ['hospital'] },
  'Records:amendRecord': { orgTypes: ['hospital'] },
  'Records:retractRecord': { orgTypes: ['hospital'] },
  'Records:readRecord': { anyMember: true },
  'Records:recordHistory': { anyMember: true },
  'Records:recordHistories': { anyMember: true },
  'Records:lookupByHash': { anyMember: true },
  // The patient's own view: the latest version of each record under one patientRef (members read anchors anyway).
  'Records:listPatientRecords': { anyMember: true },
  // The hospital vouches for its own patientRef; the patient's signature proves the key.
  'Consent:registerPatient': { orgTypes: ['hospital'] },
  // Patients use any member's gateway; the chaincode verifies the patient's signature itself.
  'Consent:grantConsent': { anyMember: true },
  'Consent:revokeConsent': { anyMember: true },
  'Consent:checkConsent': { anyMember: true },
  'Consent:listGrants': { anyMember: true },
  'Consent:readPatient': { anyMember: true },
  'Consent:readPatientByAddress': { anyMember: true },
  // The caller's MSP is the grantee the consent is checked for; hospitals for treatment.
  'Access:accessRecord': { orgTypes: ['insurer', 'sponsor', 'hospital'] },
  // A hospital records what it disclosed of its own records (the contract checks issuer = caller).
  'Access:discloseRecords': { orgTypes: ['hospital'] },
  'Access:listAccessLog': { anyMember: true },
  // Break-glass: hospitals only (the contract also requires the clinician role the gateway vouches for).
  'Access:breakGlassAccess': { orgTypes: ['hospital'] },
  'Access:listBreakGlassAccesses': { anyMember: true },
  // The recipient's and the issuer's receipt of a consented access (the contract checks which).
  'Access:readConsentedAccess': { anyMember: true },
  // A hospital records that it erased one of its patients (nothing about whom); anyone may read it.
  'Privacy:recordErasure': { orgTypes: ['hospital'] },
  'Privacy:readErasure': { anyMember: true },
  // Trivial one-key write and read (readiness, the benchmarks' ceiling): any identity of the channel.
  'Probe:put': { open: true },
  'Probe:get': { open: true },
  // A hospital anchors a folder of its own documents as one root (no patientRef); members read it.
  'Archives:anchorArchive': { orgTypes: ['hospital'] },
  'Archives:readArchive': { anyMember: true },
  // Research linkage: a sponsor requests, listed hospitals contribute, the named linkage institution records (the contract checks who is a party).
  'Linkage:requestLinkage': { orgTypes: ['sponsor'] },
  'Linkage:contribute': { orgTypes: ['hospital'] },
  'Linkage:recordLinkage': { orgTypes: ['linkage'] },
  'Linkage:readLinkage': { anyMember: true },
  'Linkage:listLinkages': { anyMember: true },
  // Guardians: the patient's signature (any member's gateway submits it) or the patient's hospital on a legal basis.
  'Guardians:appointGuardian': { anyMember: true },
  'Guardians:revokeGuardian': { anyMember: true },
  'Guardians:recordGuardian': { orgTypes: ['hospital'] },
  'Guardians:revokeRecordedGuardian': { orgTypes: ['hospital'] },
  'Guardians:listDelegations': { anyMember: true },
  'Guardians:listGuardianDelegations': { anyMember: true },
};

export async function authorize(ctx: Context, transaction: string): Promise<void> {
  const rule = TRANSACTION_RULES[transaction];
  if (!rule) throw new ChaincodeError('UNKNOWN_TRANSACTION', `${transaction} is not a transaction of this chaincode.`);
  if ('open' in rule) return;
  const orgType = await callerOrgType(ctx);
  if ('orgTypes' in rule && !rule.orgTypes.includes(orgType)) {
    throw new ChaincodeError(
      'FORBIDDEN_ORG_TYPE',
      `${ctx.clientIdentity.getMSPID()} is a ${orgType}; ${transaction} is open to ${rule.orgTypes.join(', ')} organisations only.`,
    );
  }
  const roles = CERTIFIED_ROLES[transaction];
  if (roles) requireCertifiedRole(ctx, roles, transaction);
}

const present = (v: string | null | undefined): v is string => v !== null && v !== undefined && v !== '';

/**
 * Attribute-based access control, in addition to the MSP ID (lib/certified-roles.ts): the
 * caller's certificate must name one of `roles` in its `medprov.role` attribute. An identity of
 * an organisation's Fabric CA without that attribute (its admin, its gateway's default user) is
 * refused. An identity without any Fabric CA attribute — cryptogen's, the quick option for
 * tests — keeps the MSP-only rule: its organisation's gateway vouches for the role.
 *
 * @throws ChaincodeError FORBIDDEN_ROLE
 */
export function requireCertifiedRole(ctx: Context, roles: readonly string[], what: string): void {
  const role = ctx.clientIdentity.getAttributeValue(ROLE_ATTRIBUTE);
  if (present(role)) {
    if (roles.includes(role)) return;
    throw new ChaincodeError('FORBIDDEN_ROLE', `the caller's certificate says its role is ${role.slice(0, 40)}; ${what} needs ${roles.join(' or ')}.`);
  }
  if (present(ctx.clientIdentity.getAttributeValue(CA_ENROLLMENT_ATTRIBUTE))) {
    throw new ChaincodeError('FORBIDDEN_ROLE', `the caller's certificate (from ${ctx.clientIdentity.getMSPID()}'s CA) has no ${ROLE_ATTRIBUTE} attribute; ${what} needs ${roles.join(' or ')}.`);
  }
}

/** Base of every medprov contract: authorisation before any transaction runs. */
export abstract class MedprovContract extends Contract {
  override async beforeTransaction(ctx: Context): Promise<void> {
    const { fcn } = ctx.stub.getFunctionAndParameters();
    const transaction = fcn.includes(':') ? fcn : `${this.getName()}:${fcn}`;
    await authorize(ctx, transaction);
  }

  override async unknownTransaction(ctx: Context): Promise<void> {
    const { fcn } = ctx.stub.getFunctionAndParameters();
    throw new ChaincodeError('UNKNOWN_TRANSACTION', `${fcn.slice(0, 128)} is not a transaction of this chaincode.`);
  }
}
