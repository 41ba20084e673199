/**
 * The Verify page's script (bundled by `gateway/src/http/pages.ts` with esbuild, served as
 * /verify/app.js). The document is hashed here, in the browser, with incremental SHA-256 read in
 * chunks, so it never leaves the machine; only `{ docHash }` goes to POST /v1/verifications. A
 * receipt is checked with the same verifier as the command line (`verifyReceipt` of the
 * browser-safe anchoring module). A receipt of a salted record carries its salt: the page sends it
 * with the hash, so that any gateway can find the record's commitment. Every text is in Korean
 * and English (`i18n.ts`); the issuer is shown by its display name.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
// The CLI's verifier, exported by `../src/anchoring` (index.ts); imported from its own modules so
// that the bundle leaves out the on-chain half (ethers), which this page does not use.
import { isAnchoringError } from '../src/anchoring/errors';
import { documentMismatch, parseReceipt, verifyReceipt, type Receipt } from '../src/anchoring/receipt';
// Consent-bound receipts of accesses: their verifier brings ethers' EIP-712 hashing and signature recovery.
import { isAccessReceiptShaped, parseAccessReceipt, verifyAccessReceipt, type AccessReceipt } from '../src/anchoring/access-receipt';
import { errorText, formatDate, loadOrganisations, mountLanguageSwitch, onLanguageChange, orgName, t, type MessageKey } from './i18n';

const CHUNK_BYTES = 4 * 2 ** 20;
const KEY_STORAGE = 'medprov.verify.apiKey';
const MAX_RECEIPT_BYTES = 1 * 2 ** 20;

interface GatewayVerdict {
  verdict: 'ORIGINAL' | 'SUPERSEDED' | 'RETRACTED' | 'UNKNOWN';
  docHash: string;
  issuer?: string;
  recordId?: string;
  version?: number;
  anchoredAt?: string;
  txId?: string;
  blockNumber?: string;
  supersededBy?: string;
  retraction?: { reason: string; at: string; txId: string };
  commitment?: 'plain' | 'salted';
  anchoredHash?: string;
  note?: string;
}

/** A failed ask: the gateway's error code, or one of the page's sentences, or (no code) the gateway's words; drawn in the reader's language. */
type GatewayFailure = { ok: false; code?: string; key?: MessageKey; vars?: Record<string, string | number>; message?: string; detail?: string };
type GatewayOutcome = { ok: true; result: GatewayVerdict } | GatewayFailure;
/** A reason a receipt does not hold: one of the page's own sentences, or the verifier's (English) words. */
type ReceiptReason = { key: MessageKey; vars?: Record<string, string> } | { text: string };
/** A receipt's check; `salt` (of a salted record's receipt that could be read) goes to the gateway either way. */
type ReceiptOutcome = { valid: true; receipt: Receipt; salt?: string; access?: AccessReceipt } | { valid: false; reasons: ReceiptReason[]; salt?: string };

const $ = <T extends HTMLElement>(id: string): T => {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing from the page`);
  return node as T;
};

const form = $<HTMLFormElement>('verify-form');
const keyInput = $<HTMLInputElement>('api-key');
const forgetKey = $<HTMLButtonElement>('forget-key');
const dropZone = $<HTMLDivElement>('drop-zone');
const docInput = $<HTMLInputElement>('document-input');
const receiptInput = $<HTMLInputElement>('receipt-input');
const docChosen = $<HTMLParagraphElement>('document-chosen');
const receiptChosen = $<HTMLParagraphElement>('receipt-chosen');
const progressRow = $<HTMLDivElement>('progress-row');
const progress = $<HTMLProgressElement>('hash-progress');
const progressText = $<HTMLSpanElement>('progress-text');
const clearButton = $<HTMLButtonElement>('clear-button');
const live = $<HTMLDivElement>('live');
const gatewayMsp = document.body.dataset.gateway ?? '';
/** How to draw what the results area shows now, again when the language changes. */
let shown: () => HTMLElement = () => placeholder();
const placeholder = (): HTMLElement => el('p', { class: 'placeholder' }, t('verify.placeholder'));

/** Each run gets a number; a run that is no longer the latest stops and shows nothing. */
let generation = 0;
const hashes = new WeakMap<File, string>();

// ---- the API key: this tab only -------------------------------------------------------------

keyInput.value = sessionStorage.getItem(KEY_STORAGE) ?? '';
keyInput.addEventListener('input', () => {
  const key = keyInput.value.trim();
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
});
forgetKey.addEventListener('click', () => {
  keyInput.value = '';
  sessionStorage.removeItem(KEY_STORAGE);
  keyInput.focus();
});

// ---- choosing files: inputs and drag-and-drop ----------------------------------------------

docInput.addEventListener('change', () => {
  describeChoice();
  void run();
});
receiptInput.addEventListener('change', () => {
  describeChoice();
  void run();
});
form.addEventListener('submit', (event) => {
  event.preventDefault();
  void run();
});
clearButton.addEventListener('click', () => {
  generation++;
  docInput.value = '';
  receiptInput.value = '';
  describeChoice();
  progressRow.hidden = true;
  show(placeholder);
  docInput.focus();
});

for (const type of ['dragenter', 'dragover'] as const) {
  dropZone.addEventListener(type, (event) => {
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = 'copy';
    dropZone.classList.add('over');
  });
}
dropZone.addEventListener('dragleave', () => dropZone.classList.remove('over'));
dropZone.addEventListener('drop', (event) => {
  event.preventDefault();
  dropZone.classList.remove('over');
  void onDrop([...(event.dataTransfer?.files ?? [])]);
});
// A file dropped next to the zone must not make the browser navigate away to it.
window.addEventListener('dragover', (event) => event.preventDefault());
window.addEventListener('drop', (event) => event.preventDefault());

async function onDrop(files: File[]): Promise<void> {
  if (files.length === 0) return;
  if (files.length > 2) {
    show(() => errorBox(t('verify.dropTooMany')));
    return;
  }
  let doc: File | undefined;
  let receipt: File | undefined;
  for (const file of files) {
    if (!receipt && (await looksLikeReceipt(file))) receipt = file;
    else if (!doc) doc = file;
    else receipt = file;
  }
  if (doc) setFile(docInput, doc);
  if (receipt) setFile(receiptInput, receipt);
  describeChoice();
  await run();
}

/** A small .json file with the fields of a receipt. */
async function looksLikeReceipt(file: File): Promise<boolean> {
  if (!/\.json$/i.test(file.name) || file.size > MAX_RECEIPT_BYTES) return false;
  try {
    const value = JSON.parse(await file.text()) as Record<string, unknown>;
    return typeof value === 'object' && value !== null && (('leaf' in value && 'inclusionProof' in value) || isAccessReceiptShaped(value));
  } catch {
    return false;
  }
}

function setFile(input: HTMLInputElement, file: File): void {
  const transfer = new DataTransfer();
  transfer.items.add(file);
  input.files = transfer.files;
}

function describeChoice(): void {
  const doc = docInput.files?.[0];
  const receipt = receiptInput.files?.[0];
  docChosen.textContent = doc ? t('verify.chosen', { name: doc.name, size: formatBytes(doc.size) }) : t('verify.doc.none');
  receiptChosen.textContent = receipt ? t('verify.chosen', { name: receipt.name, size: formatBytes(receipt.size) }) : t('verify.receipt.none');
}

// ---- one verification ------------------------------------------------------------------------

async function run(): Promise<void> {
  const current = ++generation;
  const doc = docInput.files?.[0];
  const receiptFile = receiptInput.files?.[0];
  if (!doc) {
    if (receiptFile) show(() => errorBox(t('verify.needDocument')));
    return;
  }
  // Busy, not disabled: disabling the focused button would drop keyboard focus to the page.
  live.setAttribute('aria-busy', 'true');
  try {
    let docHash: string;
    try {
      docHash = await hashFile(doc, current);
    } catch (err) {
      if (current === generation) show(() => errorBox(t('verify.unreadable', { reason: (err as Error).message })));
      return;
    }
    if (current !== generation) return;
    // The receipt first (it is local): a salted record's salt goes with the hash to the gateway.
    const receipt = receiptFile ? await checkReceipt(receiptFile, docHash) : undefined;
    if (current !== generation) return;
    const gateway = await askGateway(docHash, receipt?.salt);
    if (current !== generation) return;
    show(() => renderResult(doc, docHash, gateway, receipt));
  } finally {
    if (current === generation) live.removeAttribute('aria-busy');
  }
}

/** Incremental SHA-256 of the file, read in chunks, with progress. */
async function hashFile(file: File, current: number): Promise<string> {
  const known = hashes.get(file);
  if (known) return known;
  const hash = sha256.create();
  progressRow.hidden = false;
  setProgress(0, file.size);
  for (let offset = 0; offset < file.size; offset += CHUNK_BYTES) {
    const chunk = new Uint8Array(await file.slice(offset, offset + CHUNK_BYTES).arrayBuffer());
    if (current !== generation) throw new Error('superseded by a newer choice');
    hash.update(chunk);
    setProgress(offset + chunk.length, file.size);
  }
  setProgress(file.size, file.size);
  const hex = bytesToHex(hash.digest());
  hashes.set(file, hex);
  return hex;
}

function setProgress(done: number, total: number): void {
  const percent = total === 0 ? 100 : Math.floor((done / total) * 100);
  progress.value = percent;
  progressText.textContent = `${percent} %`;
  progress.setAttribute('aria-valuetext', t('verify.progress.value', { percent, done: formatBytes(done), total: formatBytes(total) }));
}

async function askGateway(docHash: string, salt: string | undefined): Promise<GatewayOutcome> {
  const key = keyInput.value.trim();
  if (!key) return { ok: false, key: 'verify.needKey' };
  let res: Response;
  try {
    res = await fetch('/v1/verifications', {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(salt !== undefined ? { docHash, salt } : { docHash }),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (err) {
    return { ok: false, key: 'common.error.unreachable', detail: (err as Error).message };
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    return { ok: false, key: 'common.error.unreadable', vars: { status: res.status } };
  }
  if (res.ok) return { ok: true, result: body as GatewayVerdict };
  const error = (body as { error?: { code?: string; message?: string; requestId?: string } }).error;
  // The sentence for the code in the reader's language; the gateway's own words, its code and the request id as the detail.
  return {
    ok: false,
    ...(error?.code ? { code: error.code } : error?.message ? { message: error.message } : { key: 'common.error.status' as const, vars: { status: res.status } }),
    detail: [error?.code ? error.code : '', error?.message && error.code ? `“${error.message}”` : '', error?.requestId ? t('common.error.requestId', { id: error.requestId }) : ''].filter(Boolean).join(' · '),
  };
}

/**
 * The receipt's proof chain with the CLI's verifier; the document is matched by its hash (the
 * one just computed incrementally) rather than by handing the verifier the whole file.
 */
async function checkReceipt(file: File, docHash: string): Promise<ReceiptOutcome> {
  if (file.size > MAX_RECEIPT_BYTES) return { valid: false, reasons: [{ key: 'verify.receipt.tooLarge', vars: { size: formatBytes(file.size) } }] };
  try {
    const text = await file.text();
    const access = accessReceiptIn(text);
    if (access !== undefined) return checkAccessReceipt(access, docHash);
    const receipt = parseReceipt(text);
    const mismatch = documentMismatch(receipt, docHash);
    // The proof's own reasons are the verifier's (English, technical); the document's mismatch is said in the reader's language.
    const all: ReceiptReason[] = verifyReceipt(receipt).reasons.map((text) => ({ text }));
    if (mismatch) all.unshift({ key: receipt.salt === undefined ? 'verify.receipt.mismatch' : 'verify.receipt.mismatchSalted' });
    const salt = receipt.salt !== undefined ? { salt: receipt.salt } : {};
    return all.length === 0 ? { valid: true, receipt, ...salt } : { valid: false, reasons: all, ...salt };
  } catch (err) {
    if (isAnchoringError(err)) return { valid: false, reasons: [{ key: 'verify.receipt.malformed', vars: { reason: err.message } }] };
    return { valid: false, reasons: [{ key: 'verify.receipt.unreadable', vars: { reason: (err as Error).message } }] };
  }
}

/** The parsed JSON when it says it is a consent-bound access receipt (well-formed or not). */
function accessReceiptIn(text: string): unknown {
  try {
    const value: unknown = JSON.parse(text);
    return isAccessReceiptShaped(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A consent-bound receipt: the same verifier as `medprov access-receipt verify`, the document matched by its hash. */
function checkAccessReceipt(value: unknown, docHash: string): ReceiptOutcome {
  const receipt = parseAccessReceipt(value);
  const all: ReceiptReason[] = verifyAccessReceipt(receipt).reasons.map((text) => ({ text }));
  if (receipt.access.docHash !== docHash) all.unshift({ key: 'verify.access.mismatch' });
  return all.length === 0 ? { valid: true, receipt: receipt.logReceipt, access: receipt } : { valid: false, reasons: all };
}

// ---- showing the result ----------------------------------------------------------------------

const VERDICT_KEYS: Record<GatewayVerdict['verdict'], [MessageKey, MessageKey]> = {
  ORIGINAL: ['verdict.ORIGINAL', 'verdict.sentence.ORIGINAL'],
  SUPERSEDED: ['verdict.SUPERSEDED', 'verdict.sentence.SUPERSEDED'],
  RETRACTED: ['verdict.RETRACTED', 'verdict.sentence.RETRACTED'],
  UNKNOWN: ['verdict.UNKNOWN', 'verdict.sentence.UNKNOWN'],
};

/** An organisation by its display name, with its MSP ID when that differs. */
const orgText = (mspId: string): string => (orgName(mspId) === mspId ? mspId : `${orgName(mspId)} (${mspId})`);

function renderResult(doc: File, docHash: string, gateway: GatewayOutcome, receipt: ReceiptOutcome | undefined): HTMLElement {
  const out = el('div', { class: 'result' });
  if (gateway.ok) {
    const r = gateway.result;
    out.append(
      el('p', { class: 'verdict' }, el('span', { class: `badge ${r.verdict}`, id: 'verdict', 'data-verdict': r.verdict }, VERDICT_KEYS[r.verdict] ? t(VERDICT_KEYS[r.verdict][0]) : r.verdict), el('span', {}, t('verify.for', { name: doc.name }))),
      el('p', { class: 'verdict-sentence' }, VERDICT_KEYS[r.verdict] ? t(VERDICT_KEYS[r.verdict][1]) : ''),
    );
    const facts: [string, Node | string][] = [];
    if (r.issuer) facts.push([t('verify.fact.issuer'), el('span', { id: 'issuer' }, orgText(r.issuer))]);
    if (r.recordId) facts.push([t('verify.fact.record'), r.recordId]);
    if (r.version !== undefined) facts.push([t('verify.fact.version'), String(r.version)]);
    if (r.anchoredAt) facts.push([t('verify.fact.anchoredAt'), timeNode(r.anchoredAt)]);
    if (r.txId) facts.push([t('verify.fact.tx'), el('span', { class: 'mono' }, r.txId)]);
    if (r.blockNumber) facts.push([t('verify.fact.block'), el('span', { class: 'mono', id: 'block-number' }, r.blockNumber)]);
    if (r.supersededBy) facts.push([t('verify.fact.replacedBy'), el('span', { class: 'mono' }, r.supersededBy)]);
    if (r.retraction) facts.push([t('verify.fact.retracted'), el('span', {}, `${r.retraction.reason}, `, timeNode(r.retraction.at))]);
    facts.push([t('verify.fact.docHash'), el('span', { class: 'mono' }, docHash)]);
    if (r.commitment === 'salted' && r.anchoredHash) facts.push([t('verify.fact.anchoredAs'), el('span', { id: 'commitment' }, t('verify.salted'), el('span', { class: 'mono' }, r.anchoredHash))]);
    out.append(factList(facts));
    if (r.verdict === 'UNKNOWN' && r.note) out.append(el('p', { class: 'hint', id: 'salt-note' }, r.note));
  } else {
    out.append(
      errorBox(failureText(gateway), gateway.detail),
      factList([[t('verify.fact.docHash'), el('span', { class: 'mono' }, docHash)]]),
    );
  }
  if (receipt) out.append(renderReceipt(receipt));
  return out;
}

function renderReceipt(outcome: ReceiptOutcome): HTMLElement {
  if (!outcome.valid) {
    return el('div', { class: 'receipt invalid', id: 'receipt-result' }, el('h3', {}, t('verify.receipt.invalid')), el('ul', {}, ...outcome.reasons.map((r) => el('li', {}, 'key' in r ? t(r.key, r.vars) : r.text))));
  }
  if (outcome.access) return renderAccessReceipt(outcome.access);
  const { receipt } = outcome;
  const cp = receipt.checkpoint;
  return el(
    'div',
    { class: 'receipt valid', id: 'receipt-result' },
    el('h3', {}, t('verify.receipt.valid')),
    el(
      'p',
      {},
      t('verify.receipt.text', {
        index: receipt.leafIndex + 1,
        size: receipt.treeSize,
        issuer: orgText(receipt.leaf.issuer),
        record: receipt.leaf.recordId,
        version: receipt.leaf.version,
        chain: cp.chainId,
        contract: cp.contract,
        block: cp.evmBlockNumber !== undefined ? t('verify.receipt.block', { block: cp.evmBlockNumber }) : '',
      }) + (receipt.salt !== undefined ? t('verify.receipt.salted') : ''),
    ),
    factList([
      [t('verify.fact.root'), el('span', { class: 'mono' }, cp.root)],
      ...(cp.evmTxHash ? ([[t('verify.fact.evmTx'), el('span', { class: 'mono' }, cp.evmTxHash)]] as [string, Node][]) : []),
      ...(receipt.salt !== undefined ? ([[t('verify.fact.saltedCommitment'), el('span', { class: 'mono' }, receipt.leaf.docHash)]] as [string, Node][]) : []),
    ]),
  );
}

function renderAccessReceipt(receipt: AccessReceipt): HTMLElement {
  const { access: a, grant: g, logReceipt: log } = receipt;
  const cp = log.checkpoint;
  const seconds = (s: number): string => formatDate(new Date(s * 1000).toISOString(), true);
  return el(
    'div',
    { class: 'receipt valid', id: 'receipt-result', 'data-kind': 'consented-access' },
    el('h3', {}, t('verify.access.valid')),
    el(
      'p',
      { id: 'access-text' },
      t('verify.access.text', {
        recipient: orgText(a.recipient),
        issuer: orgText(a.issuer),
        record: a.recordId,
        version: a.version,
        purpose: a.purpose,
        at: formatDate(a.at, true),
        grantId: a.grantId,
        signer: a.signedBy === 'guardian' ? t('verify.access.signer.guardian', { address: a.patient, delegationId: a.delegationId ?? '' }) : t('verify.access.signer.patient', { address: a.patient }),
        from: seconds(g.validFrom),
        until: seconds(g.validUntil),
        index: log.leafIndex + 1,
        size: log.treeSize,
        chain: cp.chainId,
        contract: cp.contract,
        block: cp.evmBlockNumber !== undefined ? t('verify.receipt.block', { block: cp.evmBlockNumber }) : '',
      }),
    ),
    factList([
      [t('verify.fact.recipient'), el('span', { id: 'recipient' }, orgText(a.recipient))],
      [t('verify.fact.accessTx'), el('span', { class: 'mono' }, `${a.txId}, `, timeNode(a.at))],
      [t('verify.fact.root'), el('span', { class: 'mono' }, cp.root)],
      ...(cp.evmTxHash ? ([[t('verify.fact.evmTx'), el('span', { class: 'mono' }, cp.evmTxHash)]] as [string, Node][]) : []),
    ]),
  );
}

function failureText(f: GatewayFailure): string {
  if (f.code) return errorText(f.code);
  if (f.key) return t(f.key, f.vars);
  return f.message ?? '';
}

function factList(facts: [string, Node | string][]): HTMLElement {
  const dl = el('dl', { class: 'facts' });
  for (const [term, value] of facts) dl.append(el('dt', {}, term), el('dd', {}, value));
  return dl;
}

function timeNode(iso: string): HTMLElement {
  return el('time', { datetime: iso, title: iso }, formatDate(iso, true));
}

function errorBox(message: string, detail?: string): HTMLElement {
  return el('div', { class: 'error-box', id: 'error' }, el('p', { class: 'error-message' }, el('strong', {}, `${t('verify.notVerified')} `), message), ...(detail ? [el('p', { class: 'hint' }, `(${detail})`)] : []));
}

/** Shows what `draw` makes in the results area, and draws it again when the reader switches language. */
function show(draw: () => HTMLElement): void {
  shown = draw;
  live.replaceChildren(draw());
}

function el(tag: string, attrs: Record<string, string>, ...children: (Node | string)[]): HTMLElement {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function formatBytes(n: number): string {
  if (n < 1024) return t('verify.bytes', { n });
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

onLanguageChange(() => {
  $('org-name').textContent = orgName(gatewayMsp);
  describeChoice();
  // Redraws only a finished answer: a run still under way draws its own.
  if (!live.hasAttribute('aria-busy')) live.replaceChildren(shown());
});
mountLanguageSwitch();
describeChoice();
$('org-name').textContent = orgName(gatewayMsp);
void loadOrganisations();
