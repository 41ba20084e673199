/**
 * GET /docs: the gateway's API reference, rendered in the browser by Redoc from this gateway's
 * own /v1/openapi.json. Redoc's standalone bundle (redoc 3.0.1, MIT) is served from
 * node_modules — the copy Redocly CLI (a pinned dev dependency, also the OpenAPI linter of the
 * tests) ships for its `build-docs` — never from a CDN: the gateway's machines may be offline.
 * Telemetry is off. Without the bundle, /docs/redoc.standalone.js answers 503 with a sentence.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type express from 'express';
import type { Request, Response } from 'express';
import { escapeHtml, pageHeaders } from './pages';

/** Where Redocly CLI 2.x keeps Redoc's standalone bundle (test/unit/gateway/openapi-lint.test.ts checks it is there). */
export const REDOC_BUNDLE = path.resolve(__dirname, '../../../node_modules/@redocly/cli/lib/chunks/redoc.standalone.js');

/**
 * The page's own policy: Redoc injects its styles at run time (styled-components) and may
 * start a search worker from a blob, so style-src allows inline styles and worker-src blob:;
 * scripts and connections stay this origin's only.
 */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "worker-src 'self' blob:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const headers = (res: Response, cache: string): void => pageHeaders(res, cache, DOCS_CSP);

/** Mounts GET /docs and GET /docs/redoc.standalone.js. */
export function mountApiDocs(app: express.Express, options: { org: { name: string } }): void {
  const title = `medprov gateway API — ${escapeHtml(options.org.name)}`;
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
</head>
<body>
<noscript>The API reference needs JavaScript; the document itself is at <a href="/v1/openapi.json">/v1/openapi.json</a>.</noscript>
<redoc spec-url="/v1/openapi.json" disable-telemetry="true"></redoc>
<script type="module" src="/docs/redoc.standalone.js"></script>
</body>
</html>
`;
  let bundle: Buffer | undefined;
  app.get('/docs', (_req: Request, res: Response) => {
    res.locals.operation = 'page';
    headers(res, 'no-store');
    res.type('html').send(html);
  });
  app.get('/docs/redoc.standalone.js', (_req: Request, res: Response) => {
    res.locals.operation = 'page';
    headers(res, 'public, max-age=3600');
    if (!bundle) {
      if (!existsSync(REDOC_BUNDLE)) {
        res.status(503).type('text/plain').send('The API reference viewer (Redoc, from the dev dependency @redocly/cli) is not installed here: run npm ci. The document is at /v1/openapi.json.');
        return;
      }
      bundle = readFileSync(REDOC_BUNDLE);
    }
    res.type('application/javascript').send(bundle);
  });
}
