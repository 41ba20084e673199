/**
 * The records office's page (bundled by `gateway/src/http/pages.ts`, served as /staff/app.js):
 * the officer's API key and the hospital's patient id make a one-time registration link
 * (POST /v1/patients/registration-links), shown as its QR code for the patient to scan. The
 * QR code is the gateway's SVG, drawn as an image (data: URL), never as markup in the page.
 * Korean and English like the other pages (`i18n.ts`).
 */
import { formatDate, loadOrganisations, mountLanguageSwitch, onLanguageChange, orgName, t } from './i18n';
import { showFailure, type PageFailure } from './error-box';
import { mountBreakGlassAudit } from './staff-break-glass';

const KEY_STORAGE = 'medprov.staff.apiKey';

const $ = <T extends HTMLElement>(id: string): T => {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing from the page`);
  return node as T;
};

const gatewayMsp = document.body.dataset.gateway ?? '';
const form = $<HTMLFormElement>('link-form');
const keyInput = $<HTMLInputElement>('api-key');
const patientInput = $<HTMLInputElement>('patient-id');
const button = $<HTMLButtonElement>('make-link');
const errorBox = $<HTMLDivElement>('error');
const result = $<HTMLElement>('link-result');
const qr = $<HTMLImageElement>('qr');
const linkUrl = $<HTMLAnchorElement>('link-url');
const linkExpiry = $<HTMLParagraphElement>('link-expiry');

/** The link on show, redrawn when the language changes. */
let shown: { url: string; expiresAt: string } | undefined;
/** The error on show: a gateway's code and words, or one of the page's sentences. */
let failure: PageFailure | undefined;

keyInput.value = sessionStorage.getItem(KEY_STORAGE) ?? '';
keyInput.addEventListener('input', () => {
  const key = keyInput.value.trim();
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
});

form.addEventListener('submit', (event) => {
  event.preventDefault();
  void makeLink();
});

async function makeLink(): Promise<void> {
  if (button.disabled) return;
  const key = keyInput.value.trim();
  const patientId = patientInput.value.trim();
  if (!key) return fail({ text: () => t('staff.key.needed') }, keyInput);
  if (!patientId) return fail({ text: () => t('staff.patient.needed') }, patientInput);
  button.disabled = true;
  try {
    let res: Response;
    try {
      res = await fetch('/v1/patients/registration-links', {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ patientId }),
        credentials: 'omit',
        cache: 'no-store',
      });
    } catch {
      return fail({ text: () => t('common.error.unreachable') });
    }
    const body = (await res.json().catch(() => undefined)) as { link?: { url: string; expiresAt: string; qrSvg: string }; error?: { code?: string; message?: string } } | undefined;
    if (!res.ok || !body?.link) {
      const status = res.status;
      return fail(body?.error?.code ? { code: body.error.code, message: body.error.message ?? '' } : { text: () => t('common.error.status', { status }) });
    }
    failure = undefined;
    errorBox.hidden = true;
    shown = { url: body.link.url, expiresAt: body.link.expiresAt };
    qr.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(body.link.qrSvg)}`;
    renderLink();
    result.hidden = false;
    patientInput.value = '';
    result.focus();
  } finally {
    button.disabled = false;
  }
}

function fail(next: NonNullable<typeof failure>, focus?: HTMLElement): void {
  failure = next;
  renderError();
  focus?.focus();
}

function renderError(): void {
  if (failure) showFailure(errorBox, failure);
}

function renderLink(): void {
  if (!shown) return;
  qr.alt = t('staff.qr.alt');
  linkUrl.href = shown.url;
  linkUrl.textContent = shown.url;
  linkExpiry.textContent = t('staff.expires', { time: formatDate(shown.expiresAt, true) });
}

// The DPO's break-glass audit report, below the registration link.
const renderAudit = mountBreakGlassAudit();

onLanguageChange(() => {
  $('org-name').textContent = orgName(gatewayMsp);
  renderLink();
  renderError();
  renderAudit();
});
mountLanguageSwitch();
$('org-name').textContent = orgName(gatewayMsp);
void loadOrganisations();
