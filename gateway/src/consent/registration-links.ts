/**
 * Registration by link: the hospital's staff hand the patient a one-time link (or its QR code)
 * instead of a JSON request to copy. The link opens the Patient page with the registration
 * request filled in; the patient signs it there and the page sends the signed registration back
 * with the link's token, which completes it as the staff's own POST /v1/patients would.
 *
 * The token is the only credential the link carries: 24 random bytes, in the URL's fragment
 * (`/patient#registration=<token>`), so it is never sent in a request line, a Referer or a log.
 * It is good for one completed registration, until the registration request it wraps expires;
 * an attempt that fails (a bad signature, the ledger unavailable) does not spend it. Links live
 * in this gateway's memory, like the requests' nonces: a restart forgets them, which costs the
 * patient a new link from the desk.
 *
 * @module
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { ApiError } from '../errors';
import { NonceStore } from './nonce-store';
import type { PatientBinding } from '../../../chaincode/src/lib/consent-model';
import type { RegistrationRequest, SignedRegistration } from './service';

/** What the staff get: the link's token, the page path it opens, and when it stops working. */
export interface RegistrationLink {
  token: string;
  /** The Patient page with the token in its fragment; prefix the gateway's public origin. */
  path: string;
  expiresAt: string;
}

/** The consent service's part that links use. */
export interface RegistrationDesk {
  registrationRequest(patientId: string): Promise<RegistrationRequest>;
  registerPatient(body: SignedRegistration): Promise<{ binding: PatientBinding; created: boolean; blockNumber: string }>;
}

export interface RegistrationLinksOptions {
  /** How long a link may be opened and completed; it never outlives its request either. Default 15 min. */
  ttlSeconds?: number;
  /** Most links held at once. Default 10,000. */
  capacity?: number;
  /** Wall-clock milliseconds; the consent service's clock, so that link and request expire together. */
  clock?: () => number;
  randomBytes?: (size: number) => Uint8Array;
}

/** The form of a link token: 24 random bytes, base64url. */
export const REGISTRATION_LINK_TOKEN = /^[A-Za-z0-9_-]{32}$/;

/** The Patient page's path that opens a link. */
export const registrationLinkPath = (token: string): string => `/patient#registration=${token}`;

export class RegistrationLinks {
  private readonly links: NonceStore<{ request: RegistrationRequest }>;
  private readonly completing = new Set<string>();
  private readonly clock: () => number;
  private readonly random: (size: number) => Uint8Array;

  constructor(
    private readonly desk: RegistrationDesk,
    options: RegistrationLinksOptions = {},
  ) {
    this.clock = options.clock ?? Date.now;
    this.random = options.randomBytes ?? nodeRandomBytes;
    this.links = new NonceStore((options.ttlSeconds ?? 900) * 1000, options.capacity ?? 10_000, this.clock);
  }

  /** A fresh registration request for the hospital's `patientId`, behind a one-time link. */
  async create(patientId: string): Promise<{ link: RegistrationLink; request: RegistrationRequest }> {
    const request = await this.desk.registrationRequest(patientId);
    const token = Buffer.from(this.random(24)).toString('base64url');
    const added = this.links.add(token, { request });
    if (!added) throw new ApiError(503, 'TOO_MANY_PENDING', 'Too many registration links are waiting to be used; try again in a few minutes.');
    const expiresAt = new Date(Math.min(added.expiresAt, Date.parse(request.expiresAt))).toISOString();
    return { link: { token, path: registrationLinkPath(token), expiresAt }, request };
  }

  /** The registration request behind a link that can still be used (the page shows and signs it). */
  open(token: string): RegistrationRequest {
    return this.usable(token).request;
  }

  /**
   * Completes the link's registration with the patient's signature: the message must be the
   * link's own. The link is spent once the registration is on the ledger; a second completion
   * is refused (409 REGISTRATION_LINK_USED), as is one while another is under way.
   */
  async complete(token: string, signed: SignedRegistration): Promise<{ binding: PatientBinding; created: boolean; blockNumber: string }> {
    const { request } = this.usable(token);
    const m = request.message;
    if (signed.message.hospital !== m.hospital || signed.message.patientRef !== m.patientRef || signed.message.nonce !== m.nonce) {
      throw new ApiError(400, 'REGISTRATION_LINK_MISMATCH', 'The signed registration is not the one this link was issued for; open the link again and sign what it shows.');
    }
    if (this.completing.has(token)) throw new ApiError(409, 'REGISTRATION_LINK_BUSY', 'This registration is being completed right now; wait a moment and reload the page.');
    this.completing.add(token);
    try {
      const out = await this.desk.registerPatient(signed);
      this.links.consume(token);
      return out;
    } finally {
      this.completing.delete(token);
    }
  }

  private usable(token: string): { request: RegistrationRequest } {
    const found = REGISTRATION_LINK_TOKEN.test(token) ? this.links.lookup(token) : ({ status: 'unknown' } as const);
    if (found.status === 'unknown') {
      throw new ApiError(404, 'REGISTRATION_LINK_UNKNOWN', 'This registration link is not known here (mistyped, or the gateway restarted since); ask the hospital for a new one.');
    }
    if (found.status === 'used') throw new ApiError(409, 'REGISTRATION_LINK_USED', 'This registration link has already been used; a link registers once. Ask the hospital for a new one if you need it.');
    if (found.status === 'expired' || Date.parse(found.value.request.expiresAt) <= this.clock()) {
      throw new ApiError(410, 'REGISTRATION_LINK_EXPIRED', 'This registration link has expired; ask the hospital for a new one.');
    }
    return found.value;
  }
}
