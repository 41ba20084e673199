import type { TypedDataDomain, TypedDataField } from 'ethers';

/**
 * The one EIP-712 type the gateway defines itself: the challenge a patient signs to read
 * their own grants and access log. The consent types (RegisterPatient, ConsentGrant,
 * ConsentRevoke) are the chaincode's, in chaincode/src/lib/eip712.ts, and are imported from
 * there, never copied. Like that module, this one imports nothing from Node or Fabric, so the
 * patient's browser app can import it as it is.
 *
 * The challenge is signed in the consent domain (same name, version, chain id and channel
 * salt): its distinct primary type gives it a distinct digest, so a challenge signature can
 * never be presented as a grant, a revocation or a registration, nor the other way round.
 */
export const PATIENT_CHALLENGE_TYPES: Record<string, TypedDataField[]> = {
  PatientChallenge: [
    // MSP ID of the gateway that issued the nonce: the signature says where it may be used.
    { name: 'gateway', type: 'string' },
    // The binding the patient proves to hold; the gateway checks it is the signer's binding.
    { name: 'hospital', type: 'string' },
    { name: 'patientRef', type: 'string' },
    { name: 'nonce', type: 'bytes32' },
    // Unix seconds; shown to the patient by wallets that display typed data.
    { name: 'expiresAt', type: 'uint64' },
  ],
};

export interface PatientChallengeMessage {
  gateway: string;
  hospital: string;
  patientRef: string;
  nonce: string;
  expiresAt: number;
}

/**
 * What a wallet needs to sign: ethers' `signTypedData(domain, types, message)` arguments plus
 * the primary type (wallets speaking eth_signTypedData_v4 add the EIP712Domain type themselves).
 */
export interface TypedDataToSign<M> {
  domain: TypedDataDomain;
  types: Record<string, TypedDataField[]>;
  primaryType: string;
  message: M;
}
