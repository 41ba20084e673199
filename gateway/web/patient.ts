/**
 * The Patient page's script (bundled by `gateway/src/http/pages.ts` with esbuild, served as
 * /patient/app.js). The patient's recovery phrase and keys live in this tab's memory only: they
 * are never stored and never sent. What leaves the browser is signatures over the chaincode's
 * own EIP-712 types (imported from `chaincode/src/lib/eip712.ts`, never copied):
 *
 * - RegisterPatient: signed here, handed back to the hospital's staff (who submit it with their
 *   API key: this page holds no staff key, so a patient's device never carries one);
 * - ConsentGrant / ConsentRevoke: signed here and sent to POST /v1/consents[/revocations];
 * - PatientChallenge: signed here to read the patient's own grants and access log
 *   (`Authorization: Patient <base64url(JSON {message, signature})>`), one challenge per request.
 *
 * One key per hospital: the phrase's key for a hospital is at m/44'/60'/n'/0/0 with
 * n = the first 31 bits of keccak256("medprov-consent/hospital:" + hospital MSP ID), so the
 * patient's addresses at two hospitals have nothing in common on the ledger, and the page needs
 * no list of organisations to find the key again. The only thing kept in sessionStorage is the
 * (non-secret) registration: hospital, patientRef and the domain's channel salt.
 */
import { HDNodeWallet, Mnemonic, getAddress, id, randomBytes, type TypedDataDomain } from 'ethers';
import { CONSENT_DOMAIN_NAME, CONSENT_DOMAIN_VERSION, CONSENT_GRANT_TYPES, CONSENT_REVOKE_TYPES, REGISTER_PATIENT_TYPES, type RegisterPatientMessage } from '../../chaincode/src/lib/eip712';
import {
  BYTES32,
  DAY_SECONDS as DAY,
  challengeToSign,
  consentDomainOf,
  describeAccessParty,
  describeScope,
  grantMessage,
  patientAuthorization as authorizationHeader,
  registrationDomain as domainOf,
  revokeMessage,
  sameTypes,
  type ChallengeToSign as ChallengeAnswer,
  type PatientRegistration as Registration,
} from '../src/consent/patient-client';
import { PATIENT_CHALLENGE_TYPES } from '../src/consent/typed-data';

const REGISTRATION_STORAGE = 'medprov.patient.registration';
const CODE = /^[A-Za-z0-9._:-]+$/;
const TRIAL = /^[A-Za-z0-9._-]{1,64}$/;

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
}

interface AccessLogView {
  accessor: string;
  role?: string;
  kind?: 'access' | 'disclosure';
  disclosedBy?: string;
  issuer: string;
  recordId: string;
  version: number;
  purpose: string;
  decision: 'PERMIT' | 'DENY' | 'NO_CONSENT';
  reason?: string;
  at: string;
}

/** An answer of the gateway that was not a success, in its own words. */
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
const registerForm = $<HTMLFormElement>('register-form');
const requestInput = $<HTMLTextAreaElement>('request-input');
const signedBox = $<HTMLDivElement>('signed-box');
const signedOutput = $<HTMLTextAreaElement>('signed-output');
const copySigned = $<HTMLButtonElement>('copy-signed');
const knownForm = $<HTMLFormElement>('known-form');
const knownHospital = $<HTMLInputElement>('known-hospital');
const knownRef = $<HTMLInputElement>('known-ref');
const registrationFacts = $<HTMLElement>('registration-facts');
const grantForm = $<HTMLFormElement>('grant-form');
const granteeInput = $<HTMLInputElement>('grantee');
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
export function pathFor(hospital: string): string {
  const n = parseInt(id(`medprov-consent/hospital:${hospital}`).slice(2, 10), 16) & 0x7fffffff;
  return `m/44'/60'/${n}'/0/0`;
}

function walletFor(hospital: string): HDNodeWallet {
  if (!mnemonic) throw new UserError('Create a key or enter your recovery phrase first (step 1).', 'phrase-input');
  let wallet = wallets.get(hospital);
  if (!wallet) {
    wallet = HDNodeWallet.fromMnemonic(mnemonic, pathFor(hospital));
    wallets.set(hospital, wallet);
  }
  return wallet;
}

function requireRegistration(): Registration {
  if (!registration) throw new UserError('Register your key at your hospital first, or enter your registration (step 2).', 'request-input');
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

function say(text: string): void {
  statusBox.textContent = text;
}

function clearMessages(): void {
  statusBox.textContent = '';
  errorBox.hidden = true;
  errorBox.replaceChildren();
}

function showError(err: unknown): void {
  statusBox.textContent = '';
  const p = document.createElement('p');
  if (err instanceof GatewayError) {
    const strong = document.createElement('strong');
    strong.textContent = 'The gateway refused: ';
    const code = document.createElement('code');
    code.textContent = err.code;
    p.append(strong, err.message, ' (', code, ')');
  } else if (err instanceof UserError) {
    const strong = document.createElement('strong');
    strong.textContent = 'Check this: ';
    p.append(strong, err.message);
    if (err.focus) document.getElementById(err.focus)?.focus();
  } else {
    const strong = document.createElement('strong');
    strong.textContent = 'Something went wrong: ';
    p.append(strong, err instanceof Error ? err.message : String(err));
  }
  errorBox.replaceChildren(p);
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
    throw new Error('The gateway could not be reached. Check your connection and try again.');
  }
  let json: unknown;
  try {
    json = await res.json();
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const error = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new GatewayError(error?.message ?? `The gateway answered HTTP ${res.status}.`, error?.code ?? `HTTP_${res.status}`, res.status);
  }
  return json as T;
}

/** The consent domain of this channel; refuses a domain that is not medprov-consent v1 (so the page never signs for something else). */
function checkedDomain(domain: unknown): TypedDataDomain & { salt: string } {
  const checked = consentDomainOf(domain);
  if (!checked) throw new UserError(`This is not a medprov consent request: its EIP-712 domain is not ${CONSENT_DOMAIN_NAME} version ${CONSENT_DOMAIN_VERSION}.`);
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
    if (toSign.problem === 'other-channel') throw new Error('The gateway is on another channel than your registration; nothing was signed.');
    throw new Error('The gateway sent a challenge this page does not recognise; nothing was signed.');
  }
  if (!reg.salt) saveRegistration({ ...reg, salt: toSign.domain.salt });
  const signature = await wallet.signTypedData(toSign.domain, PATIENT_CHALLENGE_TYPES, toSign.message);
  return authorizationHeader(toSign.message, signature);
}

// ───────────────────────────── 1. the key ─────────────────────────────

createKey.addEventListener('click', () => {
  clearMessages();
  if (mnemonic && !window.confirm('Replace the key loaded in this tab with a new one?')) return;
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
  say('A new key was created in this browser. Write down the 12 words shown.');
});

mnemonicDone.addEventListener('click', () => {
  mnemonicWords.replaceChildren();
  mnemonicBox.hidden = true;
  say('The words are hidden. Your key stays loaded in this tab until you close or reload it.');
  requestInput.focus();
});

loadForm.addEventListener('submit', (event) => {
  event.preventDefault();
  clearMessages();
  const phrase = phraseInput.value.trim().toLowerCase().split(/\s+/).join(' ');
  try {
    if (phrase.split(' ').length !== 12) throw new Error('twelve');
    useMnemonic(Mnemonic.fromPhrase(phrase));
  } catch {
    showError(new UserError('That is not a valid recovery phrase: it needs the 12 words, in their order, as they were shown.', 'phrase-input'));
    return;
  }
  phraseInput.value = '';
  mnemonicBox.hidden = true;
  mnemonicWords.replaceChildren();
  say('Your key is loaded in this tab.');
});

forgetAll.addEventListener('click', () => {
  mnemonic = undefined;
  wallets.clear();
  mnemonicWords.replaceChildren();
  mnemonicBox.hidden = true;
  signedOutput.value = '';
  signedBox.hidden = true;
  grantsBox.replaceChildren(placeholder('Not loaded yet.'));
  logBox.replaceChildren(placeholder('Not loaded yet.'));
  saveRegistration(undefined);
  clearMessages();
  say('Your key and registration were forgotten in this tab.');
  createKey.focus();
});

function useMnemonic(next: Mnemonic): void {
  mnemonic = next;
  wallets.clear();
  render();
}

// ───────────────────────────── 2. registration ─────────────────────────────

registerForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void act($<HTMLButtonElement>('sign-registration'), async () => {
    let request: { domain?: unknown; types?: unknown; primaryType?: unknown; message?: Partial<RegisterPatientMessage>; expiresAt?: unknown };
    try {
      request = JSON.parse(requestInput.value);
    } catch {
      throw new UserError('The registration request is not valid JSON: paste it exactly as the hospital gave it.', 'request-input');
    }
    const m = request?.message;
    if (request?.primaryType !== 'RegisterPatient' || !sameTypes(request.types, REGISTER_PATIENT_TYPES) || !m || typeof m.hospital !== 'string' || typeof m.patientRef !== 'string' || typeof m.nonce !== 'string' || !BYTES32.test(m.nonce)) {
      throw new UserError('This is not a registration request (RegisterPatient typed data from POST /v1/patients/registration-requests).', 'request-input');
    }
    const domain = checkedDomain(request.domain);
    if (typeof request.expiresAt === 'string' && Date.parse(request.expiresAt) < Date.now()) {
      throw new UserError(`This registration request expired at ${new Date(request.expiresAt).toLocaleString()}; ask the hospital's staff for a new one.`, 'request-input');
    }
    const message: RegisterPatientMessage = { hospital: m.hospital, patientRef: m.patientRef, nonce: m.nonce };
    const wallet = walletFor(message.hospital);
    const signature = await wallet.signTypedData(domain, REGISTER_PATIENT_TYPES, message);
    signedOutput.value = JSON.stringify({ message, patient: getAddress(wallet.address), signature }, null, 2);
    signedBox.hidden = false;
    saveRegistration({ hospital: message.hospital, patientRef: message.patientRef, salt: domain.salt });
    say(`Registration signed for ${message.hospital}. Give the signed registration below to the hospital's staff; once they have submitted it you can give access.`);
    signedOutput.focus();
  });
});

copySigned.addEventListener('click', () => {
  void act(copySigned, async () => {
    signedOutput.select();
    try {
      await navigator.clipboard.writeText(signedOutput.value);
      say('Copied.');
    } catch {
      say('Your browser did not allow copying: the text is selected, copy it with Ctrl+C.');
    }
  });
});

knownForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void act($<HTMLButtonElement>('use-known'), async () => {
    const hospital = knownHospital.value.trim();
    const patientRef = knownRef.value.trim();
    if (!CODE.test(hospital)) throw new UserError('Enter the hospital\'s MSP ID, e.g. HospitalMSP.', 'known-hospital');
    if (!patientRef) throw new UserError('Enter your patient reference (patientRef) at that hospital.', 'known-ref');
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

grantForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void act($<HTMLButtonElement>('grant-button'), async () => {
    const reg = requireRegistration();
    const wallet = walletFor(reg.hospital);
    const grantee = granteeInput.value.trim();
    if (!CODE.test(grantee)) throw new UserError('Enter the organisation\'s MSP ID, e.g. InsurerMSP.', 'grantee');
    let purpose = purposeSelect.value;
    if (purpose === 'research') {
      const trial = trialInput.value.trim();
      if (!TRIAL.test(trial)) throw new UserError('Enter the trial id (letters, digits, dot, dash or underscore).', 'trial-id');
      purpose = `research:${trial}`;
    }
    const categories = list(categoriesInput.value);
    const recordIds = list(recordIdsInput.value);
    if (categories.length + recordIds.length === 0) throw new UserError('Name at least one record category or record id.', 'categories');
    const bad = categories.find((c) => !CODE.test(c));
    if (bad) throw new UserError(`"${bad}" is not a category code (letters, digits and . _ : - only).`, 'categories');
    const days = Number(daysInput.value);
    if (!Number.isInteger(days) || days < 1 || days > 3650) throw new UserError('Enter how many days the access lasts: a whole number from 1 to 3650.', 'days');
    if (!reg.salt) await patientAuthorization(); // learns the channel of the registration (a spare challenge)
    const now = Math.floor(Date.now() / 1000);
    const message = grantMessage(reg, { grantee, purpose, categories, recordIds, validUntil: now + days * DAY }, now);
    const signature = await wallet.signTypedData(domainOf(registration!), CONSENT_GRANT_TYPES, message);
    const out = await api<{ grant: GrantView; created: boolean }>('POST', '/v1/consents', { message, signature });
    say(`Access given: ${grantee} may use ${describeScope(out.grant)} for ${purpose} until ${formatDate(out.grant.validUntil)}.`);
    await refresh(false);
  });
});

async function revoke(grant: GrantView, button: HTMLButtonElement): Promise<void> {
  await act(button, async () => {
    const reg = requireRegistration();
    const wallet = walletFor(reg.hospital);
    const message = revokeMessage(reg, grant.grantId);
    const signature = await wallet.signTypedData(domainOf(reg), CONSENT_REVOKE_TYPES, message);
    await api('POST', '/v1/consents/revocations', { message, signature });
    say(`Access revoked: ${grant.grantee} may no longer use your records for ${grant.purpose}.`);
    await refresh(false);
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
  renderGrants(grants.grants);
  const log = await api<{ entries: AccessLogView[] }>('GET', '/v1/patients/me/access-log', undefined, await patientAuthorization());
  renderLog(log.entries);
  if (announce) {
    const active = grants.grants.filter((g) => g.effectiveStatus === 'active').length;
    say(`Loaded ${grants.grants.length} grant${grants.grants.length === 1 ? '' : 's'} (${active} active) and ${log.entries.length} access-log entr${log.entries.length === 1 ? 'y' : 'ies'}.`);
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

function pill(value: string, text = value): HTMLSpanElement {
  const span = document.createElement('span');
  span.className = `pill ${value}`;
  span.textContent = text;
  return span;
}

function table(caption: string, headers: string[], rows: HTMLTableRowElement[]): HTMLTableElement {
  const t = document.createElement('table');
  const cap = document.createElement('caption');
  cap.className = 'sr-only';
  cap.textContent = caption;
  const head = document.createElement('thead');
  const tr = document.createElement('tr');
  tr.append(...headers.map((h) => cell('th', h)));
  head.append(tr);
  const body = document.createElement('tbody');
  body.append(...rows);
  t.append(cap, head, body);
  return t;
}

function wrapTable(t: HTMLTableElement): HTMLDivElement {
  const div = document.createElement('div');
  div.className = 'table-wrap';
  div.append(t);
  return div;
}

const formatDate = (seconds: number): string => new Date(seconds * 1000).toISOString().slice(0, 10);
const formatTime = (iso: string): string => iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC');

function renderGrants(grants: GrantView[]): void {
  if (grants.length === 0) {
    grantsBox.replaceChildren(placeholder('You have given no access.'));
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
      button.textContent = 'Revoke';
      button.setAttribute('aria-label', `Revoke access of ${g.grantee} for ${g.purpose}`);
      button.addEventListener('click', () => void revoke(g, button));
      action.append(button);
    } else {
      action.append('—');
    }
    tr.append(cell('td', g.grantee), cell('td', g.purpose), anyWrap(cell('td', describeScope(g))), cell('td', `${formatDate(g.validFrom)} – ${formatDate(g.validUntil)}`), cell('td', pill(g.effectiveStatus)), action);
    return tr;
  });
  grantsBox.replaceChildren(wrapTable(table('Your grants, newest first', ['Organisation', 'Purpose', 'Records', 'Valid', 'Status', 'Action'], rows)));
}

function renderLog(entries: AccessLogView[]): void {
  if (entries.length === 0) {
    logBox.replaceChildren(placeholder('Nobody has asked to access your records, and none were disclosed.'));
    return;
  }
  const rows = [...entries].reverse().map((e) => {
    const tr = document.createElement('tr');
    tr.className = `log-entry ${e.decision}${e.kind === 'disclosure' ? ' disclosure' : ''}`;
    const decision = cell('td', pill(e.decision));
    if (e.reason) decision.append(' ', e.reason.toLowerCase().replace(/_/g, ' '));
    tr.append(cell('td', formatTime(e.at)), cell('td', describeAccessParty(e)), anyWrap(cell('td', `${e.issuer} · ${e.recordId} (v${e.version})`)), cell('td', e.purpose), decision);
    return tr;
  });
  logBox.replaceChildren(wrapTable(table('Access log, newest first', ['When', 'Organisation', 'Record', 'Purpose', 'Decision'], rows)));
}

// ───────────────────────────── the page's state on screen ─────────────────────────────

function render(): void {
  forgetAll.hidden = !mnemonic && !registration;
  if (!mnemonic) {
    keyState.textContent = registration ? 'No key loaded: enter your recovery phrase to continue.' : 'No key loaded.';
  } else if (registration) {
    keyState.textContent = `Key loaded. Your address at ${registration.hospital}: ${walletFor(registration.hospital).address}`;
  } else {
    keyState.textContent = 'Key loaded. Next, sign your hospital\'s registration request.';
  }
  registrationFacts.hidden = !registration;
  if (registration) {
    $('reg-hospital').textContent = registration.hospital;
    $('reg-ref').textContent = registration.patientRef;
    $('reg-address').textContent = mnemonic ? walletFor(registration.hospital).address : '(load your key to see it)';
    knownHospital.value = registration.hospital;
    knownRef.value = registration.patientRef;
  }
}

render();
