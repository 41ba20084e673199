/**
 * The pages' languages: Korean and English. The reader's choice (the switch in the page's
 * header, remembered in localStorage under `medprov.lang`) wins; otherwise the first of the
 * browser's preferred languages (`navigator.languages`, what it sends as Accept-Language) that
 * is Korean or English; otherwise English. Dates are written with `Intl.DateTimeFormat` in the
 * reader's locale and time zone. Organisations are named by their display names from the
 * consortium definition (GET /v1/organisations), never by MSP ID alone.
 *
 * @module
 */
import { errorSentence, reasonText as reasonIn } from './error-messages';
import { preferredLanguage, type Lang } from './language';
import { MESSAGES, type MessageKey } from './messages';

export type { Lang, MessageKey };
export const LANG_STORAGE = 'medprov.lang';
type Vars = Record<string, string | number>;

function remembered(): string | null {
  try {
    return localStorage.getItem(LANG_STORAGE);
  } catch {
    return null;
  }
}

/** The browser's preferred languages, best first (none outside a browser). */
function browserLanguages(): readonly string[] {
  if (typeof navigator === 'undefined') return [];
  return navigator.languages?.length ? navigator.languages : [navigator.language];
}

let lang: Lang = preferredLanguage(remembered(), browserLanguages());
const listeners: (() => void)[] = [];

export const currentLanguage = (): Lang => lang;

/** The text of `key` in the current language, with `{name}` filled in from `vars`. */
export function t(key: MessageKey, vars: Vars = {}): string {
  const entry = MESSAGES[key][lang] as string | ((v: Vars) => string);
  const text = typeof entry === 'function' ? entry(vars) : entry;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole));
}

/** The sentence for a gateway error code in the current language (a general one for a code the pages do not know). */
export function errorText(code: string): string {
  return errorSentence(code, lang) ?? t('common.error.unknownCode');
}

/** A consent decision's reason (REVOKED, OUT_OF_SCOPE, …) in the current language. */
export const reasonText = (reason: string): string => reasonIn(reason, lang);

/** Switches the page's language (remembered unless `remember` is false) and re-renders what listens. */
export function setLanguage(next: Lang, remember = true): void {
  lang = next;
  if (remember) {
    try {
      localStorage.setItem(LANG_STORAGE, next);
    } catch {
      // storage refused (private mode): the choice holds for this page only
    }
  }
  applyStaticTexts();
  for (const listener of listeners) listener();
}

/** Called after every language switch and once the organisations' names are known. */
export function onLanguageChange(listener: () => void): void {
  listeners.push(listener);
}

/** Writes the HTML's own texts (data-i18n, data-i18n-html, data-i18n-attr) in the current language. */
export function applyStaticTexts(root: ParentNode = document): void {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll<HTMLElement>('[data-i18n]')) el.textContent = t(el.dataset.i18n as MessageKey);
  // Only the catalogue's own texts, with <strong>/<code>, never anything that came from a request.
  for (const el of root.querySelectorAll<HTMLElement>('[data-i18n-html]')) el.innerHTML = t(el.dataset.i18nHtml as MessageKey);
  for (const el of root.querySelectorAll<HTMLElement>('[data-i18n-attr]')) {
    for (const pair of (el.dataset.i18nAttr ?? '').split(';')) {
      const [attr, key] = pair.split(':');
      if (attr && key) el.setAttribute(attr, t(key as MessageKey));
    }
  }
  for (const button of root.querySelectorAll<HTMLButtonElement>('button[data-lang]')) button.setAttribute('aria-pressed', String(button.dataset.lang === lang));
}

/** Wires the header's language buttons (`<button data-lang="ko">`) and writes the page in the current language. */
export function mountLanguageSwitch(): void {
  for (const button of document.querySelectorAll<HTMLButtonElement>('button[data-lang]')) {
    button.addEventListener('click', () => setLanguage(button.dataset.lang === 'ko' ? 'ko' : 'en'));
  }
  applyStaticTexts();
}

/** The locale dates are written in: Korean (ko-KR), or the browser's own English variant. */
export function locale(): string {
  if (lang === 'ko') return 'ko-KR';
  return browserLanguages().find((l) => /^en\b/i.test(l)) ?? 'en-GB';
}

/** A date (and time) in the reader's locale and time zone. */
export function formatDate(value: Date | number | string, withTime = false): string {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return new Intl.DateTimeFormat(locale(), withTime ? { dateStyle: 'medium', timeStyle: 'long' } : { dateStyle: 'medium' }).format(date);
}

// ───────────────────────────── organisations ─────────────────────────────

export interface Organisation {
  mspId: string;
  name: string;
  type: 'hospital' | 'insurer' | 'sponsor' | 'linkage';
  displayName: { ko: string; en: string };
}

let organisations: Organisation[] = [];

/** Loads the consortium's organisations from this gateway; the pages keep working with MSP IDs if it fails. */
export async function loadOrganisations(): Promise<void> {
  try {
    const res = await fetch('/v1/organisations', { headers: { accept: 'application/json' }, credentials: 'omit' });
    if (!res.ok) return;
    const body = (await res.json()) as { organisations?: Organisation[] };
    if (Array.isArray(body.organisations)) organisations = body.organisations;
  } catch {
    return;
  }
  for (const listener of listeners) listener();
}

export const knownOrganisations = (): readonly Organisation[] => organisations;

/** An organisation's display name in the current language; its MSP ID when the consortium does not name it. */
export function orgName(mspId: string): string {
  return organisations.find((o) => o.mspId === mspId)?.displayName[lang] ?? mspId;
}
