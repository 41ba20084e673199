import { createHash, timingSafeEqual } from 'node:crypto';
import { ApiError } from '../errors';
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
 * Finds the user an `Authorization: Bearer <key>` header belongs to. Keys are compared as
 * digests in constant time, so neither timing nor logs reveal them.
 */
export class ApiKeyAuthenticator {
  private readonly users: { user: User; digest: Buffer }[];

  constructor(users: readonly UserConfig[]) {
    this.users = users.map((u) => {
      if (!(ROLES as readonly string[]).includes(u.role)) throw new Error(`user ${u.id} has an unknown role ${u.role}`);
      if (!/^[0-9a-f]{64}$/.test(u.apiKeySha256)) throw new Error(`user ${u.id}: apiKeySha256 must be 64 lowercase hex characters`);
      return { user: { id: u.id, role: u.role }, digest: Buffer.from(u.apiKeySha256, 'hex') };
    });
  }

  authenticate(authorization: string | undefined): User {
    const match = /^Bearer ([\x21-\x7e]{16,256})$/.exec(authorization ?? '');
    if (!match) {
      throw new ApiError(401, 'AUTH_REQUIRED', 'Send your API key as "Authorization: Bearer <key>".');
    }
    const digest = createHash('sha256').update(match[1], 'utf8').digest();
    let found: User | undefined;
    for (const entry of this.users) {
      if (timingSafeEqual(entry.digest, digest)) found = entry.user;
    }
    if (!found) throw new ApiError(401, 'AUTH_INVALID', 'This API key is not known to this gateway.');
    return found;
  }
}
