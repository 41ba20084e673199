/**
 * Which of the pages' two languages a reader gets (no DOM here, so the unit tests run it):
 * a remembered choice, else the first Korean or English of the browser's preferred languages,
 * else English.
 *
 * @module
 */
export type Lang = 'ko' | 'en';

/** The language to show: a remembered choice, else the browser's first Korean or English preference, else English. */
export function preferredLanguage(stored: string | null | undefined, languages: readonly string[]): Lang {
  if (stored === 'ko' || stored === 'en') return stored;
  for (const tag of languages) {
    const primary = tag.toLowerCase().split('-')[0];
    if (primary === 'ko' || primary === 'en') return primary;
  }
  return 'en';
}
