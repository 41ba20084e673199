/**
 * The gateway's web pages: GET /verify (document verification), GET /patient (the patient's
 * key, registration, consent grants and revocations, access log) and, at a hospital, GET /staff
 * (the records office's one-time registration links with their QR codes). Plain HTML + CSS from
 * `gateway/web/`, and one script per page bundled from `gateway/web/<page>.ts` with esbuild's JS
 * API on the first request and kept in memory, so nothing generated is committed and there is no
 * dev server: the Verify page imports the same browser-safe verifier (`gateway/src/anchoring`)
 * as the command line, the Patient page the chaincode's own EIP-712 definitions.
 *
 * Every page answer carries a Content-Security-Policy that allows only this origin's script and
 * style and connections back to this gateway (`script-src 'self'`, no inline script).
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type express from 'express';
import type { Request, Response } from 'express';

const WEB_DIR = path.resolve(__dirname, '../../web');

export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export interface PagesOptions {
  /** Shown in the page's header. */
  org: { mspId: string; name: string; type?: 'hospital' | 'insurer' | 'sponsor' | 'linkage' };
  /** Minify the bundle (default true). */
  minify?: boolean;
}

/** esbuild's bundle of the page script, built once per process on first use. */
const bundles = new Map<string, Promise<string>>();

/** Bundles `gateway/web/<entry>.ts` for browsers (ES2020, one IIFE, no Node built-ins). */
export function bundlePageScript(entry: string, minify = true): Promise<string> {
  const cacheKey = `${entry}:${minify}`;
  let bundle = bundles.get(cacheKey);
  if (!bundle) {
    bundle = (async () => {
      // esbuild comes with tsx; loaded only when a page script is first asked for.
      const esbuild = await import('esbuild');
      const out = await esbuild.build({
        entryPoints: [path.join(WEB_DIR, `${entry}.ts`)],
        bundle: true,
        write: false,
        format: 'iife',
        platform: 'browser',
        target: ['es2020'],
        minify,
        legalComments: 'none',
        sourcemap: false,
        logLevel: 'silent',
        tsconfig: path.join(WEB_DIR, 'tsconfig.json'),
      });
      return out.outputFiles[0]!.text;
    })();
    // A failed build is not cached: the next request tries again.
    bundle.catch(() => bundles.delete(cacheKey));
    bundles.set(cacheKey, bundle);
  }
  return bundle;
}

/** The banner's language switch, the same on every page (gateway/web/i18n.ts wires it). */
const LANGUAGE_SWITCH = [
  '<div class="lang-switch" role="group" aria-label="Language / 언어">',
  '        <button type="button" class="lang" data-lang="ko" lang="ko" aria-pressed="false">한국어</button>',
  '        <button type="button" class="lang" data-lang="en" lang="en" aria-pressed="false">English</button>',
  '      </div>',
].join('\n');

export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The headers of every page answer: its Content-Security-Policy (the pages' own unless given), no sniffing, no referrer, no framing. */
export function pageHeaders(res: Response, cache: string, csp: string = PAGE_CSP): void {
  res.setHeader('content-security-policy', csp);
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('x-frame-options', 'DENY');
  res.setHeader('cache-control', cache);
}

/** The pages this gateway serves: GET /<name>, /<name>/app.js (bundled from web/<name>.ts), /<name>/style.css (web/base.css + web/<name>.css). */
const PAGES = ['verify', 'patient', 'staff'] as const;

/** Mounts GET /verify, GET /patient and, at a hospital, GET /staff (the records office's registration links), each with its app.js and style.css. */
export function mountPages(app: express.Express, options: PagesOptions): void {
  for (const name of PAGES) if (name !== 'staff' || options.org.type === 'hospital') mountPage(app, name, options);
}

function mountPage(app: express.Express, name: (typeof PAGES)[number], options: PagesOptions): void {
  const html = readFileSync(path.join(WEB_DIR, `${name}.html`), 'utf8')
    .replaceAll('{{ORG_NAME}}', escapeHtml(options.org.name))
    .replaceAll('{{ORG_MSP}}', escapeHtml(options.org.mspId))
    .replace('{{LANGUAGE_SWITCH}}', LANGUAGE_SWITCH);
  // One stylesheet per page: the pages' shared base, then the page's own rules.
  const css = readFileSync(path.join(WEB_DIR, 'base.css'), 'utf8') + readFileSync(path.join(WEB_DIR, `${name}.css`), 'utf8');
  const minify = options.minify ?? true;

  app.get(`/${name}`, (_req: Request, res: Response) => {
    res.locals.operation = 'page';
    pageHeaders(res, 'no-store');
    res.type('html').send(html);
  });
  app.get(`/${name}/style.css`, (_req: Request, res: Response) => {
    res.locals.operation = 'page';
    pageHeaders(res, 'no-cache');
    res.type('css').send(css);
  });
  app.get(`/${name}/app.js`, async (_req: Request, res: Response) => {
    res.locals.operation = 'page';
    pageHeaders(res, 'no-cache');
    let script: string;
    try {
      script = await bundlePageScript(name, minify);
    } catch (err) {
      res.status(503).type('text/plain').send(`The page script could not be built: ${(err as Error).message.split('\n')[0]}`);
      return;
    }
    res.type('application/javascript').send(script);
  });
}
