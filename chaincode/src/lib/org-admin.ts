import type { Context } from 'fabric-contract-api';
import { X509Certificate } from 'node:crypto';
import { ChaincodeError } from './errors';

/** The organisational unit Fabric's NodeOUs give an organisation's admins (cryptogen and Fabric CA alike). */
export const ADMIN_OU = 'admin';

/**
 * True when the caller's certificate carries the admin OU. The peer has already checked the
 * certificate against the organisation's MSP (its CA issued it), so the OU is the CA's word.
 * Read from the certificate's parsed subject: the contract API's getID() string escapes only
 * the first '/' of a value, so a crafted common name could fake an OU there.
 */
export function callerIsOrgAdmin(ctx: Context): boolean {
  let subject: string;
  try {
    subject = new X509Certificate(Buffer.from(ctx.clientIdentity.getIDBytes())).subject;
  } catch {
    return false;
  }
  // One line per RDN; several attributes of one RDN are joined by ' + ' ('+' in a value is escaped).
  return subject.split('\n').some((rdn) => rdn.split(' + ').includes(`OU=${ADMIN_OU}`));
}

/** Refuses unless the caller is an admin of its organisation; `action` completes "only an admin may …". */
export function requireOrgAdmin(ctx: Context, action: string): void {
  if (callerIsOrgAdmin(ctx)) return;
  throw new ChaincodeError(
    'FORBIDDEN_NOT_ADMIN',
    `the caller is not an admin of ${ctx.clientIdentity.getMSPID()}; only an organisation's admin may ${action} (gateways and their users never can).`,
  );
}
