import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/**
 * The headless-Chromium harness of the e2e tests: playwright-core loaded at run time (its absence,
 * or Chromium's, skips the test), one browser on a private profile dir, and a cleanup that never
 * leaves a browser behind.
 */
export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = path.resolve(__dirname, '../../test-artifacts');

// The little of playwright-core these tests use, typed here so that type-checking does not need
// the package (it is loaded at run time, and its absence skips the test).
export interface PwRequest { url(): string; method(): string; postData(): string | null; headers(): Record<string, string> }
export interface PwResponse { headers(): Record<string, string>; status(): number }
export interface PwLocator {
  fill(value: string): Promise<void>;
  setInputFiles(files: string | string[]): Promise<void>;
  click(): Promise<void>;
  textContent(): Promise<string | null>;
  inputValue(): Promise<string>;
  allTextContents(): Promise<string[]>;
  count(): Promise<number>;
  isVisible(): Promise<boolean>;
  selectOption(value: string): Promise<unknown>;
  getAttribute(name: string): Promise<string | null>;
  waitFor(options?: { state?: 'visible' | 'attached' | 'hidden' | 'detached'; timeout?: number }): Promise<void>;
  focus(): Promise<void>;
  first(): PwLocator;
  filter(options: { hasText?: string | RegExp }): PwLocator;
  evaluate<R>(fn: (el: any) => R): Promise<R>; // eslint-disable-line @typescript-eslint/no-explicit-any
}
export interface PwPage {
  goto(url: string): Promise<PwResponse | null>;
  reload(): Promise<PwResponse | null>;
  getByLabel(text: string, options?: { exact?: boolean }): PwLocator;
  getByRole(role: string, options?: { name?: string | RegExp; exact?: boolean }): PwLocator;
  locator(selector: string, options?: { hasText?: string | RegExp }): PwLocator;
  screenshot(options: { path: string; fullPage?: boolean }): Promise<unknown>;
  on(event: 'request', fn: (r: PwRequest) => void): void;
  on(event: 'console', fn: (m: { type(): string; text(): string }) => void): void;
  on(event: 'pageerror', fn: (e: Error) => void): void;
  keyboard: { press(key: string): Promise<void> };
  evaluate<R>(fn: string): Promise<R>;
}
interface PwContext { newPage(): Promise<PwPage>; close(): Promise<void> }
interface PwChromium {
  launchPersistentContext(userDataDir: string, options: Record<string, unknown>): Promise<PwContext>;
}

function loadPlaywright(): PwChromium | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('playwright-core') as { chromium: PwChromium }).chromium;
  } catch {
    return undefined;
  }
}

/** Chromium processes started with our user-data dir (the test's own, by their unique argument). */
function browserPids(userDataDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(userDataDir)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Skips the calling test (`this` of a `before`) when Chromium or playwright-core is missing. */
export function skipWithoutBrowser(ctx: Mocha.Context, what: string): void {
  if (existsSync(CHROMIUM) && loadPlaywright()) return;
  const missing = !existsSync(CHROMIUM) ? `${CHROMIUM} (run scripts/install-browser.sh)` : 'the npm package playwright-core';
  console.warn(`      skipped: ${what} needs ${missing}.`);
  ctx.skip();
}

export interface Browser {
  page: PwPage;
  /** Closes the browser (10 s at most), then ends whatever still runs with its profile dir and removes that dir. */
  close: () => Promise<void>;
}

/**
 * Headless Chromium on a fresh profile dir, with one page open; makes the artifacts dir. The page's
 * uncaught errors and console errors go into `pageErrors`, but for the console errors that
 * `expectedConsoleError` matches (the browser reporting an answer a test asked for). `locale`
 * (default en-GB) and `timezoneId` (default UTC) are the reader's.
 */
export async function launchBrowser(options: { pageErrors: string[]; expectedConsoleError: RegExp; locale?: string; timezoneId?: string }): Promise<Browser> {
  const chromium = loadPlaywright();
  if (!chromium) throw new Error('playwright-core is missing (call skipWithoutBrowser first)');
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'medprov-chromium-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  let context: PwContext | undefined;
  const close = async (): Promise<void> => {
    try {
      if (context) await Promise.race([context.close(), new Promise((r) => setTimeout(r, 10_000))]);
    } finally {
      // Never leave a browser behind: whatever still runs with our own profile dir is ended.
      for (const pid of browserPids(userDataDir)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      rmSync(userDataDir, { recursive: true, force: true });
    }
  };
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      // --lang: the browser's own words (a file input's button) in the reader's language too.
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--lang=${options.locale ?? 'en-GB'}`],
      viewport: { width: 1100, height: 900 },
      // The browser's language (navigator.languages and Accept-Language) and time zone, as a reader's would be.
      locale: options.locale ?? 'en-GB',
      timezoneId: options.timezoneId ?? 'UTC',
    });
    const page = await context.newPage();
    page.on('pageerror', (e) => options.pageErrors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error' && !options.expectedConsoleError.test(m.text())) options.pageErrors.push(m.text());
    });
    return { page, close };
  } catch (err) {
    await close();
    throw err;
  }
}
