/**
 * The Patient page's script (bundled by `gateway/src/http/pages.ts` with esbuild, served as
 * /patient/app.js). The patient's recovery phrase and keys live in this tab's memory only: they
 * are never stored and never sent. What leaves the browser is signatures over the chaincode's
 * own EIP-712 types (imported from `chaincode/src/lib/eip712.ts`, never copied):
 *
 * - RegisterPatient: signed here. Opened from the hospital's one-time registration link
 *   (`/patient#registration=<token>`, the token in the fragment), the page fetches the request
 *   with the token and sends the signed registration back with it; a request pasted as JSON is
 *   signed and handed back to the staff, who submit it with their API key (this page holds no
 *   staff key, so a patient's device never carries one);
 * - ConsentGrant / ConsentRevoke: signed here and sent to POST /v1/consents[/revocations];
 * - PatientChallenge: signed here to read the patient's own grants and access log
 *   (`Authorization: Patient <base64url(JSON {message, signature})>`), one challenge per request.
 *
 * One key per hospital: the phrase's key for a hospital is at m/44'/60'/n'/0/0 with
 * n = the first 31 bits of keccak256("medprov-consent/hospital:" + hospital MSP ID), so the
 * patient's addresses at two hospitals have nothing in common on the ledger, and the page needs
 * no list of organisations to find the key again. The only thing kept in sessionStorage is the
 * (non-secret) registration: hospital, patientRef and the domain's channel salt; localStorage
 * holds only the reader's language. Every text is in Korean and English (`i18n.ts`), and
 * organisations are shown by their display names.
 */
import { HDNodeWallet, Mnemonic, getAddress, randomBytes, type TypedDataDomain } from 'ethers';
import { CONSENT_DOMAIN_NAME, CONSENT_DOMAIN_VERSION, CONSENT_GRANT_TYPES, CONSENT_REVOKE_TYPES, REGISTER_PATIENT_TYPES, type RegisterPatientMessage } from '../../chaincode/src/lib/eip712';
import {
  BYTES32,
  DAY_SECONDS as DAY,
  challengeToSign,
  consentDomainOf,
  grantMessage,
  patientAuthorization as authorizationHeader,
  registrationDomain as domainOf,
  revokeMessage,
  sameTypes,
  type ChallengeToSign as ChallengeAnswer,
  type PatientRegistration as Registration,
} from '../src/consent/patient-client';
import { PATIENT_CHALLENGE_TYPES } from '../src/consent/typed-data';
import { hospitalKeyPath } from '../src/consent/patient-client';
import { mountGuardianSections } from './patient-guardians';
import { MESSAGES } from './messages';
import { errorText, formatDate, knownOrganisations, loadOrganisations, mountLanguageSwitch, onLanguageChange, orgName, reasonText, t, type MessageKey } from './i18n';

const REGISTRATION_STORAGE = 'medprov.patient.registration';
const CODE = /^[A-Za-z0-9._:-]+$/;
const TRIAL = /^[A-Za-z0-9._-]{1,64}$/;
const LINK_FRAGMENT = /^#registration=([A-Za-z0-9_-]{32})$/;

interface GrantView {
  grantId: string;
  grantee: string;
  purpose: string;
  categories: string[];
  recordIds: string[];
  validFrom: number;
  validUntil: number;
  status: string;
  effectiveStatus: 'active' | 'revoked' | 'expired' | 'pending';
  /** 'guardian' when the patient's guardian made it, under a delegation. */
  signedBy?: string;
}

interface AccessLogView {
  accessor: string;
  role?: string;
  kind?: 'access' | 'disclosure' | 'break-glass' | 'linkage';
  disclosedBy?: string;
  /** A research linkage entry: the sponsor's linkage request (there is no record). */
  requestId?: string;
  issuer: string;
  recordId: string;
  version: number;
  purpose: string;
  decision: 'PERMIT' | 'DENY' | 'NO_CONSENT' | 'BREAK_GLASS';
  reason?: string;
  /** A break-glass entry: why it was opened without consent. */
  breakGlassReason?: string;
  at: string;
}

type RegistrationRequest = { domain?: unknown; types?: unknown; primaryType?: unknown; message?: Partial<RegisterPatientMessage>; expiresAt?: unknown };

/** An answer of the gateway that was not a success: its code, and its own (English) sentence. */
class GatewayError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status: number,
  ) {
    super(message);
  }
}

const $ = <T extends HTMLElement>(elementId: string): T => {
  const node = document.getElementById(elementId);
  if (!node) throw new Error(`#${elementId} is missing from the page`);
  return node as T;
};

const gatewayMsp = document.body.dataset.gateway ?? '';
const statusBox = $<HTMLDivElement>('status');
const errorBox = $<HTMLDivElement>('error');
const createKey = $<HTMLButtonElement>('create-key');
const mnemonicBox = $<HTMLDivElement>('mnemonic-box');
const mnemonicWords = $<HTMLOListElement>('mnemonic-words');
const mnemonicDone = $<HTMLButtonElement>('mnemonic-done');
const loadForm = $<HTMLFormElement>('load-form');
const phraseInput = $<HTMLInputElement>('phrase-input');
const keyState = $<HTMLParagraphElement>('key-state');
const forgetAll = $<HTMLButtonElement>('forget-all');
const linkBox = $<HTMLDivElement>('link-box');
const linkText = $<HTMLParagraphElement>('link-text');
const linkRegister = $<HTMLButtonElement>('link-register');
const registerForm = $<HTMLFormElement>('register-form');
const requestInput = $<HTMLTextAreaElement>('request-input');
const signedBox = $<HTMLDivElement>('signed-box');
const signedOutput = $<HTMLTextAreaElement>('signed-output');
const copySigned = $<HTMLButtonElement>('copy-signed');
const knownForm = $<HTMLFormElement>('known-form');
const knownHospital = $<HTMLSelectElement>('known-hospital');
const knownRef = $<HTMLInputElement>('known-ref');
const registrationFacts = $<HTMLElement>('registration-facts');
const grantForm = $<HTMLFormElement>('grant-form');
const granteeSelect = $<HTMLSelectElement>('grantee');
const purposeSelect = $<HTMLSelectElement>('purpose');
const trialRow = $<HTMLDivElement>('trial-row');
const trialInput = $<HTMLInputElement>('trial-id');
const categoriesInput = $<HTMLInputElement>('categories');
const recordIdsInput = $<HTMLInputElement>('record-ids');
const daysInput = $<HTMLInputElement>('days');
const refreshButton = $<HTMLButtonElement>('refresh');
const grantsBox = $<HTMLDivElement>('grants');
const logBox = $<HTMLDivElement>('access-log');

// ───────────────────────────── state: the key in memory, the registration in the tab ─────────────────────────────

let mnemonic: Mnemonic | undefined;
const wallets = new Map<string, HDNodeWallet>();
let registration: Registration | undefined = loadRegistration();
/** The one-time link this page was opened with, and the request behind it, until it is registered. */
let link: { token: string; request?: RegistrationRequest } | undefined;
/** What the listings last showed (re-rendered when the language changes). */
let shownGrants: GrantView[] | undefined;
let shownLog: AccessLogView[] | undefined;
/** The last status line, as a key and its values (re-written when the language changes). */
let lastStatus: { key: MessageKey; vars: Record<string, string | number> } | undefined;

function loadRegistration(): Registration | undefined {
  try {
    const stored = JSON.parse(sessionStorage.getItem(REGISTRATION_STORAGE) ?? 'null') as Registration | null;
    if (stored && typeof stored.hospital === 'string' && typeof stored.patientRef === 'string') return stored;
  } catch {
    // nothing usable stored
  }
  return undefined;
}

function saveRegistration(next: Registration | undefined): void {
  registration = next;
  if (next) sessionStorage.setItem(REGISTRATION_STORAGE, JSON.stringify(next));
  else sessionStorage.removeItem(REGISTRATION_STORAGE);
  render();
}

/** The derivation path of the patient's key for one hospital: a hardened account per hospital. */
export const pathFor = hospitalKeyPath;

function walletFor(hospital: string): HDNodeWallet {
  if (!mnemonic) throw new UserError(t('patient.key.needed'), 'phrase-input');
  let wallet = wallets.get(hospital);
  if (!wallet) {
    wallet = HDNodeWallet.fromMnemonic(mnemonic, pathFor(hospital));
    wallets.set(hospital, wallet);
  }
  return wallet;
}

function requireRegistration(): Registration {
  if (!registration) throw new UserError(t('patient.reg.needed'), 'request-input');
  return registration;
}

// ───────────────────────────── messages ─────────────────────────────

/** A mistake the patient can fix on this page; `focus` names the field to fix. */
class UserError extends Error {
  constructor(
    message: string,
    readonly focus?: string,
  ) {
    super(message);
  }
}

function say(key: MessageKey, vars: Record<string, string | number> = {}): void {
  lastStatus = { key, vars };
  statusBox.textContent = t(key, vars);
}

function clearMessages(): void {
  lastStatus = undefined;
  statusBox.textContent = '';
  errorBox.hidden = true;
  errorBox.replaceChildren();
}

const strong = (text: string): HTMLElement => {
  const el = document.createElement('strong');
  el.textContent = text;
  return el;
};

/** Shows an error: a gateway's refusal as the sentence for its code in the reader's language, with the code and the gateway's own words. */
function showError(err: unknown, prefix?: string): void {
  lastStatus = undefined;
  statusBox.textContent = '';
  const p = document.createElement('p');
  const parts: Node[] = [p];
  if (err instanceof GatewayError) {
    const code = document.createElement('code');
    code.textContent = err.code;
    p.append(strong(`${prefix ?? t('common.error.gateway')} `), errorText(err.code), ' (', code, ')');
    const detail = document.createElement('p');
    detail.className = 'detail';
    detail.textContent = t('common.error.detail', { code: err.code, message: err.message });
    parts.push(detail);
  } else if (err instanceof UserError) {
    p.append(strong(`${prefix ?? t('common.error.check')} `), err.message);
    if (err.focus) document.getElementById(err.focus)?.focus();
  } else {
    p.append(strong(`${prefix ?? t('common.error.other')} `), err instanceof Error ? err.message : String(err));
  }
  errorBox.replaceChildren(...parts);
  errorBox.hidden = false;
}

/** Runs one action of the patient: buttons disabled meanwhile, messages cleared, errors shown. */
async function act(button: HTMLButtonElement, fn: () => Promise<void>): Promise<void> {
  if (button.disabled) return;
  clearMessages();
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    await fn();
  } catch (err) {
    showError(err);
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

// ───────────────────────────── the gateway ─────────────────────────────

async function api<T>(method: 'GET' | 'POST', path: string, body?: unknown, authorization?: string): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (authorization) headers.authorization = authorization;
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'omit', cache: 'no-store' });
  } catch {
    throw new Error(t('common.error.unreachable'));
  }
  let json: unknown;
  try {
    json = await res.json();
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const error = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new GatewayError(error?.message ?? t('common.error.status', { status: res.status }), error?.code ?? `HTTP_${res.status}`, res.status);
  }
  return json as T;
}

/** The consent domain of this channel; refuses a domain that is not medprov-consent v1 (so the page never signs for something else). */
function checkedDomain(domain: unknown): TypedDataDomain & { salt: string } {
  const checked = consentDomainOf(domain);
  if (!checked) throw new UserError(t('patient.request.badDomain', { name: CONSENT_DOMAIN_NAME, version: CONSENT_DOMAIN_VERSION }));
  return checked;
}

/** Answers a fresh single-use challenge: the `Authorization: Patient …` header value. Learns the channel salt if it was not known. */
async function patientAuthorization(): Promise<string> {
  const reg = requireRegistration();
  const wallet = walletFor(reg.hospital);
  const challenge = await api<ChallengeAnswer>('POST', '/v1/patients/challenges', { address: wallet.address });
  const toSign = challengeToSign(challenge, reg, gatewayMsp || undefined);
  if ('problem' in toSign) {
    if (toSign.problem === 'bad-domain') checkedDomain(challenge.domain);
    if (toSign.problem === 'other-channel') throw new Error(t('patient.challenge.otherChannel'));
    throw new Error(t('patient.challenge.unknown'));
  }
  if (!reg.salt) saveRegistration({ ...reg, salt: toSign.domain.salt });
  const signature = await wallet.signTypedData(toSign.domain, PATIENT_CHALLENGE_TYPES, toSign.message);
  return authorizationHeader(toSign.message, signature);
}

// ───────────────────────────── 1. the key ─────────────────────────────

createKey.addEventListener('click', () => {
  clearMessages();
  if (mnemonic && !window.confirm(t('patient.key.confirmReplace'))) return;
  useMnemonic(Mnemonic.fromEntropy(randomBytes(16)));
  mnemonicWords.replaceChildren(
    ...mnemonic!.phrase.split(' ').map((word) => {
      const li = document.createElement('li');
      li.textContent = word;
      return li;
    }),
  );
  mnemonicBox.hidden = false;
  mnemonicBox.focus();
  say('patient.key.created');
});

mnemonicDone.addEventListener('click', () => {
  mnemonicWords.replaceChildren();
  mnemonicBox.hidden = true;
  say('patient.key.wordsHidden');
  (link?.request ? linkRegister : requestInput).focus();
});

loadForm.addEventListener('submit', (event) => {
  event.preventDefault();
  clearMessages();
  const phrase = phraseInput.value.trim().toLowerCase().split(/\s+/).join(' ');
  try {
    if (phrase.split(' ').length !== 12) throw new Error('twelve');
    useMnemonic(Mnemonic.fromPhrase(phrase));
  } catch {
    showError(new UserError(t('patient.key.badPhrase'), 'phrase-input'));
    return;
  }
  phraseInput.value = '';
  mnemonicBox.hidden = true;
  mnemonicWords.replaceChildren();
  say('patient.key.loaded');
});

forgetAll.addEventListener('click', () => {
  mnemonic = undefined;
  wallets.clear();
  mnemonicWords.replaceChildren();
  mnemonicBox.hidden = true;
  signedOutput.value = '';
  signedBox.hidden = true;
  shownGrants = undefined;
  shownLog = undefined;
  renderGrants();
  renderLog();
  saveRegistration(undefined);
  clearMessages();
  say('patient.key.forgotten');
  createKey.focus();
});

function useMnemonic(next: Mnemonic): void {
  mnemonic = next;
  wallets.clear();
  render();
}

// ───────────────────────────── 2. registration ─────────────────────────────

/** Checks a RegisterPatient request (pasted, or behind a link) and signs it with the phrase's key for its hospital. */
async function signRegistration(request: RegistrationRequest, field?: string): Promise<{ message: RegisterPatientMessage; patient: string; signature: string; salt: string }> {
  const m = request?.message;
  if (request?.primaryType !== 'RegisterPatient' || !sameTypes(request.types, REGISTER_PATIENT_TYPES) || !m || typeof m.hospital !== 'string' || typeof m.patientRef !== 'string' || typeof m.nonce !== 'string' || !BYTES32.test(m.nonce)) {
    throw new UserError(t('patient.request.notRegistration'), field);
  }
  const domain = checkedDomain(request.domain);
  if (typeof request.expiresAt === 'string' && Date.parse(request.expiresAt) < Date.now()) {
    throw new UserError(t('patient.request.expired', { time: formatDate(request.expiresAt, true) }), field);
  }
  const message: RegisterPatientMessage = { hospital: m.hospital, patientRef: m.patientRef, nonce: m.nonce };
  const wallet = walletFor(message.hospital);
  const signature = await wallet.signTypedData(domain, REGISTER_PATIENT_TYPES, message);
  return { message, patient: getAddress(wallet.address), signature, salt: domain.salt };
}

registerForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void act($<HTMLButtonElement>('sign-registration'), async () => {
    let request: RegistrationRequest;
    try {
      request = JSON.parse(requestInput.value);
    } catch {
      throw new UserError(t('patient.request.notJson'), 'request-input');
    }
    const { message, patient, signature, salt } = await signRegistration(request, 'request-input');
    signedOutput.value = JSON.stringify({ message, patient, signature }, null, 2);
    signedBox.hidden = false;
    saveRegistration({ hospital: message.hospital, patientRef: message.patientRef, salt });
    say('patient.request.signed', { hospital: orgName(message.hospital) });
    signedOutput.focus();
  });
});

/** Opens the one-time link the page was opened with: the request behind it, shown for the patient to sign. */
async function openLink(token: string): Promise<void> {
  link = { token };
  say('patient.link.opening');
  try {
    link.request = await api<RegistrationRequest>('POST', '/v1/patients/registration-links/open', { token });
  } catch (err) {
    link = undefined;
    showError(err, t('patient.link.failed'));
    return;
  }
  renderLink();
  say('patient.link.opened', { hospital: orgName(String(link.request.message?.hospital ?? '')) });
}

linkRegister.addEventListener('click', () => {
  void act(linkRegister, async () => {
    if (!link?.request) return;
    const { message, patient, signature, salt } = await signRegistration(link.request);
    await api('POST', '/v1/patients/registration-links/complete', { token: link.token, registration: { message, patient, signature } });
    link = undefined;
    // The token has done its work: it leaves the address bar (and the history entry).
    history.replaceState(null, '', location.pathname + location.search);
    renderLink();
    saveRegistration({ hospital: message.hospital, patientRef: message.patientRef, salt });
    say('patient.link.done', { hospital: orgName(message.hospital) });
    granteeSelect.focus();
  });
});

copySigned.addEventListener('click', () => {
  void act(copySigned, async () => {
    signedOutput.select();
    try {
      await navigator.clipboard.writeText(signedOutput.value);
      say('patient.signed.copied');
    } catch {
      say('patient.signed.copyDenied');
    }
  });
});

knownForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void act($<HTMLButtonElement>('use-known'), async () => {
    const hospital = knownHospital.value.trim();
    const patientRef = knownRef.value.trim();
    if (!CODE.test(hospital)) throw new UserError(t('patient.known.needHospital'), 'known-hospital');
    if (!patientRef) throw new UserError(t('patient.known.needRef'), 'known-ref');
    walletFor(hospital);
    // Kept only if the gateway confirms it is this key's registration (the listing's challenge proves it).
    const previous = registration;
    saveRegistration({ hospital, patientRef });
    try {
      await refresh();
    } catch (err) {
      saveRegistration(previous);
      throw err;
    }
  });
});

// ───────────────────────────── 3. grants ─────────────────────────────

purposeSelect.addEventListener('change', () => {
  trialRow.hidden = purposeSelect.value !== 'research';
});

const list = (s: string): string[] => [...new Set(s.split(',').map((x) => x.trim()).filter((x) => x.length > 0))];

/** A purpose in the reader's words: treatment, insurance claims, research (trial …). */
function purposeText(purpose: string): string {
  if (purpose === 'treatment') return t('purpose.treatment');
  if (purpose === 'claims') return t('purpose.claims');
  if (purpose.startsWith('research:')) return t('purpose.researchTrial', { trial: purpose.slice('research:'.length) });
  if (purpose === 'ETREAT') return t('purpose.ETREAT');
  return purpose;
}

const scopeText = (g: { categories: readonly string[]; recordIds: readonly string[] }): string =>
  [...g.categories.map((code) => t('patient.scope.category', { code })), ...g.recordIds.map((rid) => t('patient.scope.record', { id: rid }))].join(', ');

grantForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void act($<HTMLButtonElement>('grant-button'), async () => {
    const reg = requireRegistration();
    const wallet = walletFor(reg.hospital);
    const grantee = granteeSelect.value.trim();
    if (!CODE.test(grantee)) throw new UserError(t('patient.grantee.needed'), 'grantee');
    let purpose = purposeSelect.value;
    if (purpose === 'research') {
      const trial = trialInput.value.trim();
      if (!TRIAL.test(trial)) throw new UserError(t('patient.trial.needed'), 'trial-id');
      purpose = `research:${trial}`;
    }
    const categories = list(categoriesInput.value);
    const recordIds = list(recordIdsInput.value);
    if (categories.length + recordIds.length === 0) throw new UserError(t('patient.grant.needScope'), 'categories');
    const bad = categories.find((c) => !CODE.test(c));
    if (bad) throw new UserError(t('patient.grant.badCategory', { value: bad }), 'categories');
    const days = Number(daysInput.value);
    if (!Number.isInteger(days) || days < 1 || days > 3650) throw new UserError(t('patient.grant.badDays'), 'days');
    if (!reg.salt) await patientAuthorization(); // learns the channel of the registration (a spare challenge)
    const now = Math.floor(Date.now() / 1000);
    const message = grantMessage(reg, { grantee, purpose, categories, recordIds, validUntil: now + days * DAY }, now);
    const signature = await wallet.signTypedData(domainOf(registration!), CONSENT_GRANT_TYPES, message);
    const out = await api<{ grant: GrantView; created: boolean }>('POST', '/v1/consents', { message, signature });
    await refresh(false);
    say('patient.grant.given', { grantee: orgName(grantee), scope: scopeText(out.grant), purpose: purposeText(purpose), until: formatDate(out.grant.validUntil * 1000) });
  });
});

async function revoke(grant: GrantView, button: HTMLButtonElement): Promise<void> {
  await act(button, async () => {
    const reg = requireRegistration();
    const wallet = walletFor(reg.hospital);
    const message = revokeMessage(reg, grant.grantId);
    const signature = await wallet.signTypedData(domainOf(reg), CONSENT_REVOKE_TYPES, message);
    await api('POST', '/v1/consents/revocations', { message, signature });
    await refresh(false);
    say('patient.grant.revoked', { grantee: orgName(grant.grantee), purpose: purposeText(grant.purpose) });
    refreshButton.focus();
  });
}

// ───────────────────────────── 4. listings ─────────────────────────────

refreshButton.addEventListener('click', () => {
  void act(refreshButton, () => refresh());
});

/** Loads the patient's grants and access log; each listing answers its own challenge. */
async function refresh(announce = true): Promise<void> {
  const grants = await api<{ grants: GrantView[] }>('GET', '/v1/patients/me/grants', undefined, await patientAuthorization());
  shownGrants = grants.grants;
  renderGrants();
  const log = await api<{ entries: AccessLogView[] }>('GET', '/v1/patients/me/access-log', undefined, await patientAuthorization());
  shownLog = log.entries;
  renderLog();
  if (announce) {
    const active = grants.grants.filter((g) => g.effectiveStatus === 'active').length;
    say('patient.loaded', { grants: grants.grants.length, active, entries: log.entries.length });
  }
}

const placeholder = (text: string): HTMLParagraphElement => {
  const p = document.createElement('p');
  p.className = 'placeholder';
  p.textContent = text;
  return p;
};

function cell(tag: 'td' | 'th', ...content: (string | Node)[]): HTMLTableCellElement {
  const c = document.createElement(tag);
  c.append(...content);
  if (tag === 'th') c.scope = 'col';
  return c;
}

function anyWrap(c: HTMLTableCellElement): HTMLTableCellElement {
  c.className = 'wrap-any';
  return c;
}

function pill(value: string, text: string): HTMLSpanElement {
  const span = document.createElement('span');
  span.className = `pill ${value}`;
  span.textContent = text;
  return span;
}

/** An organisation as the reader knows it, with its MSP ID for the record. */
function orgCell(mspId: string): HTMLTableCellElement {
  const name = orgName(mspId);
  const c = cell('td', name);
  if (name !== mspId) c.title = mspId;
  return c;
}

function table(caption: string, headers: string[], rows: HTMLTableRowElement[]): HTMLTableElement {
  const tbl = document.createElement('table');
  const cap = document.createElement('caption');
  cap.className = 'sr-only';
  cap.textContent = caption;
  const head = document.createElement('thead');
  const tr = document.createElement('tr');
  tr.append(...headers.map((h) => cell('th', h)));
  head.append(tr);
  const body = document.createElement('tbody');
  body.append(...rows);
  tbl.append(cap, head, body);
  return tbl;
}

function wrapTable(tbl: HTMLTableElement): HTMLDivElement {
  const div = document.createElement('div');
  div.className = 'table-wrap';
  div.append(tbl);
  return div;
}

const STATUS_KEYS: Record<GrantView['effectiveStatus'], MessageKey> = { active: 'status.active', revoked: 'status.revoked', expired: 'status.expired', pending: 'status.pending' };
const DECISION_KEYS: Record<AccessLogView['decision'], MessageKey> = { PERMIT: 'decision.PERMIT', DENY: 'decision.DENY', NO_CONSENT: 'decision.NO_CONSENT', BREAK_GLASS: 'decision.BREAK_GLASS' };

function renderGrants(): void {
  const grants = shownGrants;
  if (!grants) {
    grantsBox.replaceChildren(placeholder(t('patient.notLoaded')));
    return;
  }
  if (grants.length === 0) {
    grantsBox.replaceChildren(placeholder(t('patient.grants.none')));
    return;
  }
  const rows = [...grants].reverse().map((g) => {
    const tr = document.createElement('tr');
    tr.dataset.grantId = g.grantId;
    const action = document.createElement('td');
    if (g.effectiveStatus === 'active' || g.effectiveStatus === 'pending') {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'secondary revoke';
      button.textContent = t('patient.revoke');
      button.setAttribute('aria-label', t('patient.revoke.label', { grantee: orgName(g.grantee), purpose: purposeText(g.purpose) }));
      button.addEventListener('click', () => void revoke(g, button));
      action.append(button);
    } else {
      action.append('—');
    }
    const valid = `${formatDate(g.validFrom * 1000)} – ${formatDate(g.validUntil * 1000)}`;
    const status = cell('td', pill(g.effectiveStatus, t(STATUS_KEYS[g.effectiveStatus])));
    if (g.signedBy === 'guardian') status.append(' ', t('patient.grant.byGuardian'));
    tr.append(orgCell(g.grantee), cell('td', purposeText(g.purpose)), anyWrap(cell('td', scopeText(g))), cell('td', valid), status, action);
    return tr;
  });
  const headers = (['patient.col.organisation', 'patient.col.purpose', 'patient.col.records', 'patient.col.valid', 'patient.col.status', 'patient.col.action'] as const).map((k) => t(k));
  grantsBox.replaceChildren(wrapTable(table(t('patient.grants.caption'), headers, rows)));
}

/** A gateway user's role (claims-officer, …) in the reader's words; an unknown one as it came. */
function roleText(role: string): string {
  const key = `role.${role}`;
  return key in MESSAGES ? t(key as MessageKey) : role;
}

/** Who an access-log entry says had the record: the accessor (and role), or "Disclosed by … to …". */
function partyText(e: AccessLogView): string {
  const role = e.role ? ` (${roleText(e.role)})` : '';
  if (e.kind === 'linkage') return t('patient.log.linkage', { by: `${orgName(e.disclosedBy ?? e.issuer)}${role}`, to: orgName(e.accessor) });
  return e.kind === 'disclosure' ? t('patient.log.disclosed', { by: `${orgName(e.disclosedBy ?? e.accessor)}${role}`, to: orgName(e.accessor) }) : `${orgName(e.accessor)}${role}`;
}

function renderLog(): void {
  const entries = shownLog;
  if (!entries) {
    logBox.replaceChildren(placeholder(t('patient.notLoaded')));
    return;
  }
  if (entries.length === 0) {
    logBox.replaceChildren(placeholder(t('patient.log.none')));
    return;
  }
  const rows = [...entries].reverse().map((e) => {
    const tr = document.createElement('tr');
    tr.className = `log-entry ${e.decision}${e.kind === 'disclosure' || e.kind === 'break-glass' || e.kind === 'linkage' ? ` ${e.kind}` : ''}`;
    const decision = cell('td', pill(e.decision, t(DECISION_KEYS[e.decision] ?? 'decision.DENY')));
    if (e.reason) decision.append(' ', reasonText(e.reason));
    // Break-glass: flagged on its row, with why consent was not asked.
    if (e.kind === 'break-glass') decision.append(' ', t('patient.log.breakGlass', { reason: reasonText(e.breakGlassReason ?? '') }));
    const when = document.createElement('time');
    when.dateTime = e.at;
    when.textContent = formatDate(e.at, true);
    tr.append(cell('td', when), cell('td', partyText(e)), anyWrap(cell('td', e.kind === 'linkage' ? t('patient.log.linkageRequest', { id: e.requestId ?? e.recordId }) : `${orgName(e.issuer)} · ${e.recordId} (v${e.version})`)), cell('td', purposeText(e.purpose)), decision);
    return tr;
  });
  const headers = (['patient.col.when', 'patient.col.organisation', 'patient.col.record', 'patient.col.purpose', 'patient.col.decision'] as const).map((k) => t(k));
  logBox.replaceChildren(wrapTable(table(t('patient.log.caption'), headers, rows)));
}

// ───────────────────────────── the page's state on screen ─────────────────────────────

/** The organisations' choices: any organisation may be given access; the known-registration form lists hospitals. */
function renderOrganisationChoices(): void {
  const orgs = knownOrganisations();
  const keep = granteeSelect.value;
  const choose = document.createElement('option');
  choose.value = '';
  choose.textContent = t('patient.grantee.choose');
  granteeSelect.replaceChildren(choose, ...orgs.map((o) => option(o.mspId, `${orgName(o.mspId)} (${o.mspId})`)));
  granteeSelect.value = orgs.some((o) => o.mspId === keep) ? keep : '';
  const hospitals = orgs.filter((o) => o.type === 'hospital').map((o) => o.mspId);
  if (gatewayMsp && !hospitals.includes(gatewayMsp) && orgs.length === 0) hospitals.push(gatewayMsp);
  if (registration && !hospitals.includes(registration.hospital)) hospitals.push(registration.hospital);
  const keepHospital = knownHospital.value || registration?.hospital || gatewayMsp;
  knownHospital.replaceChildren(...hospitals.map((h) => option(h, `${orgName(h)} (${h})`)));
  if (hospitals.includes(keepHospital)) knownHospital.value = keepHospital;
}

function option(value: string, text: string): HTMLOptionElement {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = text;
  return o;
}

function renderLink(): void {
  const request = link?.request;
  linkBox.hidden = !request;
  if (!request) return;
  const hospital = orgName(String(request.message?.hospital ?? ''));
  linkText.textContent = t('patient.link.text', { hospital, time: typeof request.expiresAt === 'string' ? formatDate(request.expiresAt, true) : '—' });
}

function render(): void {
  $('org-name').textContent = orgName(gatewayMsp);
  forgetAll.hidden = !mnemonic && !registration;
  if (!mnemonic) {
    keyState.textContent = registration ? t('patient.key.noneRegistered') : t('patient.key.none');
  } else if (registration) {
    keyState.textContent = t('patient.key.loadedAt', { hospital: orgName(registration.hospital), address: walletFor(registration.hospital).address });
  } else {
    keyState.textContent = t('patient.key.loadedNext');
  }
  registrationFacts.hidden = !registration;
  if (registration) {
    $('reg-hospital').textContent = orgName(registration.hospital);
    $('reg-ref').textContent = registration.patientRef;
    $('reg-address').textContent = mnemonic ? walletFor(registration.hospital).address : t('patient.facts.loadKey');
    knownRef.value = registration.patientRef;
  }
  renderOrganisationChoices();
  if (registration) knownHospital.value = registration.hospital;
}

onLanguageChange(() => {
  render();
  renderLink();
  renderGrants();
  renderLog();
  if (lastStatus) statusBox.textContent = t(lastStatus.key, lastStatus.vars);
});
mountLanguageSwitch();
render();
void loadOrganisations();
/** Opens the registration link in the address bar's fragment, if there is one. */
function openLinkOfAddress(): void {
  const opened = LINK_FRAGMENT.exec(location.hash);
  if (opened) {
    clearMessages();
    void openLink(opened[1]!);
  }
}
// A link opened in a tab that already shows this page changes only the fragment: no reload.
window.addEventListener('hashchange', openLinkOfAddress);
openLinkOfAddress();
mountGuardianSections({
  api,
  patientAuthorization,
  walletFor,
  requireRegistration,
  domain: async () => {
    if (!requireRegistration().salt) await patientAuthorization(); // learns the registration's channel
    return domainOf(requireRegistration());
  },
  act,
  say,
  userError: (message, focus) => new UserError(message, focus),
  purposeText,
});
