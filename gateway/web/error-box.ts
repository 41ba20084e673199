/**
 * A page's error box: a gateway's refusal (the sentence for its code in the reader's language,
 * the code, and the gateway's own words), or one of the page's own sentences. Used by the records
 * office's page for its registration link and its break-glass audit.
 */
import { errorText, t } from './i18n';

/** What an error box shows: the gateway's code and words, or a sentence of the page (a function, so it follows the language). */
export type PageFailure = { code: string; message: string } | { text: () => string };

/** Fills `box` with `failure` in the language in force and shows it. */
export function showFailure(box: HTMLElement, failure: PageFailure): void {
  const p = document.createElement('p');
  const strong = document.createElement('strong');
  if ('code' in failure) {
    strong.textContent = `${t('common.error.gateway')} `;
    const code = document.createElement('code');
    code.textContent = failure.code;
    const detail = document.createElement('p');
    detail.className = 'detail';
    detail.textContent = t('common.error.detail', { code: failure.code, message: failure.message });
    p.append(strong, errorText(failure.code), ' (', code, ')');
    box.replaceChildren(p, detail);
  } else {
    strong.textContent = `${t('common.error.check')} `;
    p.append(strong, failure.text());
    box.replaceChildren(p);
  }
  box.hidden = false;
}
