import { createHash, hash } from 'node:crypto';
import { ApiError } from '../errors';
import { setCallerRole } from '../fabric/identities';
import { ROLES, type Role } from './roles';

/** A gateway user as configured: the API key is kept only as its SHA-256. */
export interface UserConfig {
  id: string;
  role: Role;
  apiKeySha256: string;
}

export interface User {
  id: string;
  role: Role;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/**
 * Finds the user an `Authorization: Bearer <key>` header belongs to. Keys are looked up by their
 * SHA-256 only: the gateway holds no key, and what the time of a look-up could tell is about a
 * digest, from which no key can be worked back. One hash and one map look-up per request,
 * however many users there are.
 */
export class ApiKeyAuthenticator {
  private readonly users = new Map<string, User>();

  constructor(users: readonly UserConfig[]) {
    for (const u of users) {
      if (!(ROLES as readonly string[]).includes(u.role)) throw new Error(`user ${u.id} has an unknown role ${u.role}`);
      if (!/^[0-9a-f]{64}$/.test(u.apiKeySha256)) throw new Error(`user ${u.id}: apiKeySha256 must be 64 lowercase hex characters`);
      // Two users with one key: the later one, as before.
      this.users.set(u.apiKeySha256, { id: u.id, role: u.role });
    }
  }

  authenticate(authorization: string | undefined): User {
    const match = authorization === undefined ? null : BEARER.exec(authorization);
    if (!match) {
      throw new ApiError(401, 'AUTH_REQUIRED', 'Send your API key as "Authorization: Bearer <key>".');
    }
    const found = this.users.get(hash('sha256', match[1], 'hex'));
    if (!found) throw new ApiError(401, 'AUTH_INVALID', 'This API key is not known to this gateway.');
    // The request's ledger submits go as the enrolled identity of this role, where there is one (fabric/identities.ts).
    setCallerRole(found.role);
    return found;
  }
}

const BEARER = /^Bearer ([\x21-\x7e]{16,256})$/;
