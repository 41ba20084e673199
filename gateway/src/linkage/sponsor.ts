/**
 * The sponsor's side: it requests a linkage on the ledger, follows it there, and fetches the
 * release from the linkage institution once linked, keeping it in its own gateway folder. The
 * release holds fresh per-request pseudonyms, quasi-identifiers and the hospitals' data: no
 * token, no hospital pseudonym, no identifier.
 *
 * @module
 */
import { createHash, randomUUID } from 'node:crypto';
import { canonicalJson } from '../../../chaincode/src/lib/canonical-json';
import { ApiError } from '../errors';
import type { LinkageRelease } from './institution';
import type { InstitutionPort } from './institution-client';
import type { LinkageLedgerPort, LinkageRequestInput, LinkageRequestState } from './ledger';
import { LinkageFiles, checkRequestId } from './store';

export interface SponsorLinkageOptions {
  mspId: string;
  ledger: LinkageLedgerPort;
  /** The institution this sponsor has a key of; absent: requests and status only. */
  institution?: { mspId: string; port: InstitutionPort };
  /** The sponsor's linkage folder (fetched releases). */
  dir: string;
}

export class SponsorLinkageService {
  private readonly files: LinkageFiles;

  constructor(private readonly options: SponsorLinkageOptions) {
    this.files = new LinkageFiles(options.dir);
  }

  /** Requests a linkage on the ledger (a fresh request id unless given; the institution by default the one this sponsor knows). */
  async request(input: Omit<LinkageRequestInput, 'requestId' | 'institution'> & { requestId?: string; institution?: string }): Promise<{ request: LinkageRequestState; transactionId: string }> {
    const institution = input.institution ?? this.options.institution?.mspId;
    if (!institution) throw new ApiError(400, 'LINKAGE_INVALID_REQUEST', 'Name the linkage institution (its MSP ID): this gateway has none configured.');
    const requestId = checkRequestId(input.requestId ?? `LR-${randomUUID()}`);
    return this.options.ledger.requestLinkage({ requestId, projectId: input.projectId, hospitals: input.hospitals, institution, quasiIdentifiers: input.quasiIdentifiers, k: input.k });
  }

  /** @throws ApiError 404 LINKAGE_NOT_FOUND */
  async status(requestId: string): Promise<LinkageRequestState> {
    const request = await this.options.ledger.readLinkage(checkRequestId(requestId));
    if (!request) throw new ApiError(404, 'LINKAGE_NOT_FOUND', `No linkage request ${requestId} is on the ledger.`);
    return request;
  }

  list(projectId?: string): Promise<LinkageRequestState[]> {
    return this.options.ledger.listLinkages(projectId);
  }

  /**
   * The release: from this gateway's folder once fetched; otherwise from the institution, checked
   * against the hash the institution recorded on the ledger, then kept.
   *
   * @throws ApiError LINKAGE_NOT_FOUND, LINKAGE_NOT_PARTY, LINKAGE_INCOMPLETE, LINKAGE_RELEASE_MISMATCH,
   *   LINKAGE_NO_INSTITUTION, the institution's refusals
   */
  async release(requestId: string): Promise<LinkageRelease> {
    checkRequestId(requestId);
    const kept = await this.files.read<LinkageRelease>('releases', requestId);
    if (kept) return kept;
    const request = await this.status(requestId);
    if (request.sponsor !== this.options.mspId) throw new ApiError(403, 'LINKAGE_NOT_PARTY', `${requestId} was requested by ${request.sponsor}; only its sponsor receives the release.`);
    const institution = this.options.institution;
    if (!institution || institution.mspId !== request.institution) {
      throw new ApiError(409, 'LINKAGE_NO_INSTITUTION', `This gateway has no key of the linkage institution ${request.institution} to fetch the release from.`);
    }
    const release = await institution.port.release(requestId);
    const recorded = request.result?.releaseHash;
    const body = release.status === 'refused' ? { refusal: release.refusal } : { release: release.release };
    const computed = createHash('sha256').update(canonicalJson({ requestId, ...body })).digest('hex');
    if (release.releaseHash !== computed || (recorded !== undefined && recorded !== computed)) {
      throw new ApiError(502, 'LINKAGE_RELEASE_MISMATCH', `The release of ${requestId} the institution sent does not match the hash ${recorded ? 'recorded on the ledger' : 'it carries'}; it was not kept.`);
    }
    await this.files.write('releases', requestId, release);
    return release;
  }
}
