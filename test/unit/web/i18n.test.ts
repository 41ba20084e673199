import { expect } from 'chai';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { CHAINCODE_ERROR_CODES } from '../../../chaincode/src/lib/errors';
import { ACCEPTANCE_ERROR_STATUS } from '../../../gateway/src/acceptance/errors';
import { ANCHORING_ERROR_CODES } from '../../../gateway/src/anchoring/errors';
import { CONSENT_FEED_ERROR_STATUS } from '../../../gateway/src/consent/feed';
import { PRIVACY_ERROR_CODES } from '../../../gateway/src/privacy/errors';
import { RECOVERY_ERROR_CODES } from '../../../gateway/src/recovery/errors';
import { ERROR_CODES, REASON_CODES, errorSentence, reasonText } from '../../../gateway/web/error-messages';
import { preferredLanguage } from '../../../gateway/web/language';
import { MESSAGES, type MessageKey } from '../../../gateway/web/messages';

/**
 * The pages' catalogue: every error code the gateway can send has a sentence in English and in
 * Korean, every text of the pages is in both languages with the same blanks, and every key the
 * HTML names exists. The codes are collected from the gateway's sources (every UPPER_SNAKE
 * string literal outside the command line), the code lists the layers export, and the OpenAPI
 * document's descriptions, so a new code without sentences fails here.
 */
const ROOT = path.resolve(__dirname, '../../..');
const HANGUL = /[\uac00-\ud7a3]/;

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir)) {
    const p = path.join(dir, entry);
    if (statSync(p).isDirectory()) {
      if (entry !== 'cli') sourceFiles(p, out);
    } else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Upper-snake literals in the gateway's sources and OpenAPI text that are not error codes. */
const NOT_CODES = new Set([
  'CALL_EXCEPTION', // ethers' code for a reverted call, mapped to REGISTRY_* before it leaves the anchoring layer
  'MVCC_READ_CONFLICT', // Fabric's validation codes, mapped to MVCC_CONFLICT
  'PHANTOM_READ_CONFLICT',
  'RECORD_READ_RULE', // constants named in openapi.ts
  'PATH_PARAMETER_SCHEMAS',
  'RETRACTION_REASONS',
  'BREAK_GLASS', // a decision of the access log (an emergency access without consent), not an error
]);
const isCode = (word: string): boolean => /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/.test(word) && !word.startsWith('MEDPROV_') && !word.startsWith('MAX_') && !NOT_CODES.has(word);

function gatewayCodes(): Set<string> {
  const codes = new Set<string>([
    ...CHAINCODE_ERROR_CODES,
    ...Object.keys(ACCEPTANCE_ERROR_STATUS),
    ...ANCHORING_ERROR_CODES,
    ...Object.keys(CONSENT_FEED_ERROR_STATUS),
    ...PRIVACY_ERROR_CODES,
    ...RECOVERY_ERROR_CODES,
    'INTERNAL',
  ]);
  for (const file of sourceFiles(path.join(ROOT, 'gateway/src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/'([A-Z][A-Z0-9_]+)'/g)) if (isCode(m[1]!)) codes.add(m[1]!);
  }
  for (const file of ['gateway/src/http/openapi.ts', 'gateway/src/http/archive-openapi.ts', 'gateway/src/http/pages-openapi.ts']) {
    for (const m of readFileSync(path.join(ROOT, file), 'utf8').matchAll(/\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b/g)) if (isCode(m[1]!)) codes.add(m[1]!);
  }
  return codes;
}

describe('web: the pages speak Korean and English', () => {
  it('has a sentence in English and in Korean for every error code the gateway can send', () => {
    const codes = gatewayCodes();
    expect(codes.size).to.be.greaterThan(150);
    const known = new Set([...ERROR_CODES, ...REASON_CODES]);
    const missing = [...codes].filter((c) => !known.has(c)).sort();
    expect(missing, 'codes without sentences in gateway/web/error-messages.ts').to.deep.equal([]);
    for (const code of ERROR_CODES) {
      const en = errorSentence(code, 'en');
      const ko = errorSentence(code, 'ko');
      expect(en, code).to.be.a('string').and.match(/^[A-Z].*[.!]$/);
      expect(ko, code).to.be.a('string').and.match(HANGUL);
      expect(ko, code).to.not.equal(en);
    }
    for (const reason of REASON_CODES) expect(reasonText(reason, 'ko'), reason).to.match(HANGUL);
    expect(errorSentence('NO_SUCH_CODE', 'ko')).to.equal(undefined);
  });

  it('has every text of the pages in both languages, with the same blanks', () => {
    const blanks = (text: string): string[] => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!).sort();
    const sample = { grants: 2, active: 1, entries: 3 };
    for (const [key, entry] of Object.entries(MESSAGES) as [MessageKey, { en: unknown; ko: unknown }][]) {
      const en = typeof entry.en === 'function' ? (entry.en as (v: object) => string)(sample) : (entry.en as string);
      const ko = typeof entry.ko === 'function' ? (entry.ko as (v: object) => string)(sample) : (entry.ko as string);
      expect(en.trim(), key).to.not.equal('');
      expect(ko.trim(), key).to.not.equal('');
      if (!/^(decision|verdict)\.[A-Z_]+$/.test(key) && key !== 'lang.switch') expect(ko, key).to.match(HANGUL);
      if (typeof entry.en === 'string' && typeof entry.ko === 'string') expect(blanks(ko), key).to.deep.equal(blanks(en));
      // Markup only where the HTML asks for it (data-i18n-html), and then only <strong> and <code>.
      for (const tag of ko.match(/<\/?([a-z]+)/g) ?? []) expect(['<strong', '</strong', '<code', '</code'], key).to.include(tag);
    }
  });

  it('names in the HTML only keys the catalogue has', () => {
    for (const page of ['patient', 'verify', 'staff']) {
      const html = readFileSync(path.join(ROOT, `gateway/web/${page}.html`), 'utf8');
      const keys = [...html.matchAll(/data-i18n(?:-html)?="([^"]+)"/g)].map((m) => m[1]!);
      expect(keys.length, page).to.be.greaterThan(10);
      for (const key of keys) expect(MESSAGES, `${page}.html`).to.have.property(key);
    }
  });

  it('chooses Korean where the browser prefers it, a remembered choice first, English otherwise', () => {
    expect(preferredLanguage(null, ['ko-KR', 'en-US'])).to.equal('ko');
    expect(preferredLanguage(null, ['ko'])).to.equal('ko');
    expect(preferredLanguage(null, ['en-GB', 'ko-KR'])).to.equal('en');
    expect(preferredLanguage(null, ['ja-JP', 'ko-KR'])).to.equal('ko');
    expect(preferredLanguage(null, ['de-DE'])).to.equal('en');
    expect(preferredLanguage(null, [])).to.equal('en');
    expect(preferredLanguage('en', ['ko-KR'])).to.equal('en');
    expect(preferredLanguage('ko', ['en-US'])).to.equal('ko');
    expect(preferredLanguage('fr', ['ko-KR'])).to.equal('ko');
  });
});
