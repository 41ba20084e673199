import { getAddress, Signature, verifyTypedData, type TypedDataDomain, type TypedDataField } from 'ethers';
import { ApiError } from '../errors';

/**
 * The EIP-55 address that signed typed `message` in `domain`. Refuses what the chaincode refuses:
 * signatures ethers cannot parse and high-s (non-EIP-2) signatures (400 SIGNATURE_INVALID).
 * The gateway's one check of a patient's or a guardian's signature before anything is submitted.
 */
export function recoverTypedSigner(domain: TypedDataDomain, types: Record<string, TypedDataField[]>, message: object, signature: string): string {
  try {
    if (!Signature.from(signature).isValid()) throw new Error('high s');
    return getAddress(verifyTypedData(domain, types, message, signature));
  } catch {
    throw new ApiError(400, 'SIGNATURE_INVALID', 'signature is not a valid secp256k1 signature (65 bytes r ‖ s ‖ v, low s, v 27 or 28).');
  }
}

/** An address in EIP-55 form; a mixed-case address must carry a valid checksum (400 INVALID_REQUEST). */
export function checksummedAddress(field: string, value: string): string {
  try {
    return getAddress(value);
  } catch {
    throw new ApiError(400, 'INVALID_REQUEST', `${field} has a wrong EIP-55 checksum (mixed case that does not match).`);
  }
}
