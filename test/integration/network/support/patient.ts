/**
 * A patient with a key of their own, signing as the README documents it ("EIP-712 domain"), with
 * ethers alone: the domain and the ConsentGrant type are written out here from the
 * documentation, not imported from the chaincode, so a grant signed here checks the chaincode
 * against its published contract rather than against itself.
 *
 * @module
 */
import { hexlify, id, randomBytes, Signature, Wallet, type HDNodeWallet, type TypedDataDomain, type TypedDataField } from 'ethers';
import { call, type GatewayAccess } from './gateway-http';

/** The consent domain of a channel: `{ name: 'medprov-consent', version: '1', chainId: 7169380, salt: keccak256(channel) }`. */
export function consentDomainOf(channel: string): TypedDataDomain {
  return { name: 'medprov-consent', version: '1', chainId: 7_169_380, salt: id(channel) };
}

/** The ConsentGrant type, field by field. */
export const GRANT_TYPES: Record<string, TypedDataField[]> = {
  ConsentGrant: [
    { name: 'hospital', type: 'string' },
    { name: 'patientRef', type: 'string' },
    { name: 'grantee', type: 'string' },
    { name: 'purpose', type: 'string' },
    { name: 'categories', type: 'string[]' },
    { name: 'recordIds', type: 'string[]' },
    { name: 'validFrom', type: 'uint64' },
    { name: 'validUntil', type: 'uint64' },
    { name: 'nonce', type: 'bytes32' },
  ],
};

/** A ConsentGrant message. */
export interface Grant {
  hospital: string;
  patientRef: string;
  grantee: string;
  purpose: string;
  categories: string[];
  recordIds: string[];
  validFrom: number;
  validUntil: number;
  nonce: string;
}

/** What `Consent:grantConsent` takes: the message and the patient's signature. */
export interface SignedGrant {
  message: Grant;
  signature: string;
}

/** A fresh random bytes32 nonce, as the chaincode wants it (0x + 64 lowercase hex). */
export const freshNonce = (): string => hexlify(randomBytes(32));

/** Signs `message` as ConsentGrant typed data in `domain` with `signer`. */
export async function signGrant(signer: Wallet | HDNodeWallet, domain: TypedDataDomain, message: Grant): Promise<SignedGrant> {
  return { message, signature: await signer.signTypedData(domain, GRANT_TYPES, message) };
}

/**
 * The high-s twin of a signature: the same (r, s) maths with s' = n − s and v flipped, which
 * recovers the same key but is the malleable form EIP-2 outlaws.
 */
export function malleated(signature: string): string {
  const sig = Signature.from(signature);
  const n = BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141');
  const highS = n - BigInt(sig.s);
  return `0x${sig.r.slice(2)}${highS.toString(16).padStart(64, '0')}${(sig.v === 27 ? 28 : 27).toString(16)}`;
}

/** A patient registered at a hospital: their key and the hospital's pseudonym for them. */
export interface RegisteredPatient {
  readonly wallet: HDNodeWallet;
  readonly hospital: string;
  readonly patientRef: string;
  /** The domain the hospital's registration request was signed in. */
  readonly domain: TypedDataDomain;
}

/**
 * Registers a new patient at a hospital through its gateway as the README's flow goes: the
 * records officer asks for the registration request, the patient signs it with their own key,
 * the records officer submits the signed payload.
 */
export async function registerPatient(recordsOfficer: GatewayAccess, patientId: string): Promise<RegisteredPatient> {
  const wallet = Wallet.createRandom();
  const request = await call(recordsOfficer, 'POST', '/v1/patients/registration-requests', { patientId });
  if (request.status !== 201) throw new Error(`registration request refused (${request.status}): ${JSON.stringify(request.body)}`);
  const { domain, types, message } = request.body as { domain: TypedDataDomain; types: Record<string, TypedDataField[]>; message: { hospital: string; patientRef: string; nonce: string } };
  const signature = await wallet.signTypedData(domain, types, message);
  const registered = await call(recordsOfficer, 'POST', '/v1/patients', { message, patient: wallet.address, signature });
  if (registered.status !== 201) throw new Error(`registration refused (${registered.status}): ${JSON.stringify(registered.body)}`);
  return { wallet, hospital: message.hospital, patientRef: message.patientRef, domain };
}
