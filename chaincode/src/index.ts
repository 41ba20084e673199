import { IdentityContract } from './contracts/identity';
import { RecordsContract } from './contracts/records';

export { IdentityContract } from './contracts/identity';
export { RecordsContract } from './contracts/records';
export { ChaincodeError, parseChaincodeError } from './lib/errors';

/** fabric-contract-api loads this list; the first contract is the default one. */
export const contracts = [IdentityContract, RecordsContract];
