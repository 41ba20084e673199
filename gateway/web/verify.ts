/**
 * The Verify page's script (bundled by `gateway/src/http/pages.ts` with esbuild, served as
 * /verify/app.js). The document is hashed here, in the browser, with incremental SHA-256 read in
 * chunks, so it never leaves the machine; only `{ docHash }` goes to POST /v1/verifications. A
 * receipt is checked with the same verifier as the command line (`verifyReceipt` of the
 * browser-safe anchoring module). A receipt of a salted record carries its salt: the page sends it
 * with the hash, so that any gateway can find the record's commitment.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
// The CLI's verifier, exported by `../src/anchoring` (index.ts); imported from its own modules so
// that the bundle leaves out the on-chain half (ethers), which this page does not use.
import { isAnchoringError } from '../src/anchoring/errors';
import { documentMismatch, parseReceipt, verifyReceipt, type Receipt } from '../src/anchoring/receipt';

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

type GatewayOutcome = { ok: true; result: GatewayVerdict } | { ok: false; message: string; detail?: string };
/** A receipt's check; `salt` (of a salted record's receipt that could be read) goes to the gateway either way. */
type ReceiptOutcome = { valid: true; receipt: Receipt; salt?: string } | { valid: false; reasons: string[]; salt?: string };

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
  show(el('p', { class: 'placeholder' }, 'Choose a document to see whether it is the original.'));
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
    show(errorBox('Drop one document, and at most one receipt with it.'));
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
    return typeof value === 'object' && value !== null && 'leaf' in value && 'inclusionProof' in value;
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
  docChosen.textContent = doc ? `Chosen: ${doc.name} (${formatBytes(doc.size)})` : 'No document chosen.';
  receiptChosen.textContent = receipt ? `Chosen: ${receipt.name} (${formatBytes(receipt.size)})` : 'No receipt chosen.';
}

// ---- one verification ------------------------------------------------------------------------

async function run(): Promise<void> {
  const current = ++generation;
  const doc = docInput.files?.[0];
  const receiptFile = receiptInput.files?.[0];
  if (!doc) {
    if (receiptFile) show(errorBox('Choose the document as well: the receipt is checked against it.'));
    return;
  }
  // Busy, not disabled: disabling the focused button would drop keyboard focus to the page.
  live.setAttribute('aria-busy', 'true');
  try {
    let docHash: string;
    try {
      docHash = await hashFile(doc, current);
    } catch (err) {
      if (current === generation) show(errorBox(`The document could not be read: ${(err as Error).message}`));
      return;
    }
    if (current !== generation) return;
    // The receipt first (it is local): a salted record's salt goes with the hash to the gateway.
    const receipt = receiptFile ? await checkReceipt(receiptFile, docHash) : undefined;
    if (current !== generation) return;
    const gateway = await askGateway(docHash, receipt?.salt);
    if (current !== generation) return;
    show(renderResult(doc, docHash, gateway, receipt));
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
  progress.setAttribute('aria-valuetext', `${percent} percent, ${formatBytes(done)} of ${formatBytes(total)}`);
}

async function askGateway(docHash: string, salt: string | undefined): Promise<GatewayOutcome> {
  const key = keyInput.value.trim();
  if (!key) return { ok: false, message: 'Enter your API key (step 1) to ask the ledger about this document.' };
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
    return { ok: false, message: `The gateway could not be reached (${(err as Error).message}). Check your connection and try again.` };
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    return { ok: false, message: `The gateway answered ${res.status} without a readable body.` };
  }
  if (res.ok) return { ok: true, result: body as GatewayVerdict };
  const error = (body as { error?: { code?: string; message?: string; requestId?: string } }).error;
  return {
    ok: false,
    message: error?.message ?? `The gateway answered ${res.status}.`,
    detail: [error?.code ? `code ${error.code}` : '', error?.requestId ? `request id ${error.requestId}` : ''].filter(Boolean).join(', '),
  };
}

/**
 * The receipt's proof chain with the CLI's verifier; the document is matched by its hash (the
 * one just computed incrementally) rather than by handing the verifier the whole file.
 */
async function checkReceipt(file: File, docHash: string): Promise<ReceiptOutcome> {
  if (file.size > MAX_RECEIPT_BYTES) return { valid: false, reasons: [`The receipt file is ${formatBytes(file.size)}; a receipt is a few kilobytes.`] };
  try {
    const text = await file.text();
    const receipt = parseReceipt(text);
    const { reasons } = verifyReceipt(receipt);
    const all = [...reasons];
    const mismatch = documentMismatch(receipt, docHash);
    if (mismatch) all.unshift(mismatch);
    const salt = receipt.salt !== undefined ? { salt: receipt.salt } : {};
    return all.length === 0 ? { valid: true, receipt, ...salt } : { valid: false, reasons: all, ...salt };
  } catch (err) {
    if (isAnchoringError(err)) return { valid: false, reasons: [`The receipt is not well-formed: ${err.message}`] };
    return { valid: false, reasons: [`The receipt could not be read: ${(err as Error).message}`] };
  }
}

// ---- showing the result ----------------------------------------------------------------------

const SENTENCES: Record<GatewayVerdict['verdict'], string> = {
  ORIGINAL: 'This is the original: the issuer anchored exactly this document, and it is the current version.',
  SUPERSEDED: 'This exact document was anchored, but the issuer has since replaced it with a newer version.',
  RETRACTED: 'This exact document was anchored, but the issuer has retracted it. Do not rely on it.',
  UNKNOWN: 'No organisation of the consortium has anchored this exact document. Even a one-byte change gives a different fingerprint.',
};

function renderResult(doc: File, docHash: string, gateway: GatewayOutcome, receipt: ReceiptOutcome | undefined): HTMLElement {
  const out = el('div', { class: 'result' });
  if (gateway.ok) {
    const r = gateway.result;
    out.append(
      el('p', { class: 'verdict' }, el('span', { class: `badge ${r.verdict}`, id: 'verdict' }, r.verdict), el('span', {}, `for ${doc.name}`)),
      el('p', { class: 'verdict-sentence' }, SENTENCES[r.verdict] ?? ''),
    );
    const facts: [string, Node | string][] = [];
    if (r.issuer) facts.push(['Issuer', r.issuer]);
    if (r.recordId) facts.push(['Record', r.recordId]);
    if (r.version !== undefined) facts.push(['Version', String(r.version)]);
    if (r.anchoredAt) facts.push(['Anchored at', timeNode(r.anchoredAt)]);
    if (r.txId) facts.push(['Ledger transaction', el('span', { class: 'mono' }, r.txId)]);
    if (r.blockNumber) facts.push(['Ledger block', el('span', { class: 'mono', id: 'block-number' }, r.blockNumber)]);
    if (r.supersededBy) facts.push(['Replaced by (SHA-256)', el('span', { class: 'mono' }, r.supersededBy)]);
    if (r.retraction) facts.push(['Retracted', el('span', {}, `${r.retraction.reason}, `, timeNode(r.retraction.at))]);
    facts.push(['Document SHA-256', el('span', { class: 'mono' }, docHash)]);
    if (r.commitment === 'salted' && r.anchoredHash) facts.push(['Anchored as', el('span', { id: 'commitment' }, 'salted commitment: ', el('span', { class: 'mono' }, r.anchoredHash))]);
    out.append(factList(facts));
    if (r.verdict === 'UNKNOWN' && r.note) out.append(el('p', { class: 'hint', id: 'salt-note' }, r.note));
  } else {
    out.append(
      errorBox(gateway.message, gateway.detail),
      factList([['Document SHA-256', el('span', { class: 'mono' }, docHash)]]),
    );
  }
  if (receipt) out.append(renderReceipt(receipt));
  return out;
}

function renderReceipt(outcome: ReceiptOutcome): HTMLElement {
  if (!outcome.valid) {
    return el('div', { class: 'receipt invalid', id: 'receipt-result' }, el('h3', {}, 'Receipt invalid'), el('ul', {}, ...outcome.reasons.map((r) => el('li', {}, r))));
  }
  const { receipt } = outcome;
  const cp = receipt.checkpoint;
  return el(
    'div',
    { class: 'receipt valid', id: 'receipt-result' },
    el('h3', {}, 'Receipt valid'),
    el(
      'p',
      {},
      `The document is anchor ${receipt.leafIndex + 1} of ${receipt.treeSize} in the consortium's Merkle log (issuer ${receipt.leaf.issuer}, record ${receipt.leaf.recordId}, version ${receipt.leaf.version}); ` +
        `the inclusion proof leads to the checkpointed root on EVM chain ${cp.chainId}, registry ${cp.contract}` +
        (cp.evmBlockNumber !== undefined ? `, block ${cp.evmBlockNumber}.` : '.') +
        (receipt.salt !== undefined ? ' The record is a salted commitment: the ledger holds a keyed hash of the document’s SHA-256 under the receipt’s salt, which matches this document.' : ''),
    ),
    factList([
      ['Checkpoint root', el('span', { class: 'mono' }, cp.root)],
      ...(cp.evmTxHash ? ([['EVM transaction', el('span', { class: 'mono' }, cp.evmTxHash)]] as [string, Node][]) : []),
      ...(receipt.salt !== undefined ? ([['Salted commitment', el('span', { class: 'mono' }, receipt.leaf.docHash)]] as [string, Node][]) : []),
    ]),
  );
}

function factList(facts: [string, Node | string][]): HTMLElement {
  const dl = el('dl', { class: 'facts' });
  for (const [term, value] of facts) dl.append(el('dt', {}, term), el('dd', {}, value));
  return dl;
}

function timeNode(iso: string): HTMLElement {
  const date = new Date(iso);
  const text = Number.isNaN(date.getTime()) ? iso : `${date.toLocaleString(undefined, { dateStyle: 'long', timeStyle: 'long' })}`;
  return el('time', { datetime: iso, title: iso }, text);
}

function errorBox(message: string, detail?: string): HTMLElement {
  return el('div', { class: 'error-box', id: 'error' }, el('p', { class: 'error-message' }, el('strong', {}, 'Not verified: '), message), ...(detail ? [el('p', { class: 'hint' }, `(${detail})`)] : []));
}

function show(node: HTMLElement): void {
  live.replaceChildren(node);
}

function el(tag: string, attrs: Record<string, string>, ...children: (Node | string)[]): HTMLElement {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}
