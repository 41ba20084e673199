import { IdentityContract } from './contracts/identity';
import { RecordsContract } from './contracts/records';
import { ConsentContract } from './contracts/consent';
import { AccessContract } from './contracts/access';
import { PrivacyContract } from './contracts/privacy';
import { ProbeContract } from './contracts/probe';
import { ArchivesContract } from './contracts/archives';
import { GuardiansContract } from './contracts/guardians';
import { LinkageContract } from './contracts/linkage';

export { IdentityContract } from './contracts/identity';
export { RecordsContract } from './contracts/records';
export { ConsentContract } from './contracts/consent';
export { AccessContract } from './contracts/access';
export { PrivacyContract } from './contracts/privacy';
export { ProbeContract } from './contracts/probe';
export { ArchivesContract } from './contracts/archives';
export { GuardiansContract } from './contracts/guardians';
export { LinkageContract } from './contracts/linkage';
export { ChaincodeError, parseChaincodeError } from './lib/errors';

/** fabric-contract-api loads this list; the first contract is the default one. */
export const contracts = [IdentityContract, RecordsContract, ConsentContract, AccessContract, PrivacyContract, ProbeContract, ArchivesContract, GuardiansContract, LinkageContract];
