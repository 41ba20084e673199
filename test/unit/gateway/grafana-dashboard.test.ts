import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract } from '../../../chaincode/src';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, DISCHARGE, HOSPITAL } from '../chaincode/fixtures';
import { NOTHING_ANCHORED, ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';

/**
 * Issue 18: the Grafana dashboard in ops/grafana/medprov-gateway.json queries only metrics the
 * gateway exports. A hospital gateway with every source of metrics (acceptance journal, anchor
 * index, public anchoring, peer failover, consent) serves /metrics; every metric name in every
 * panel's query must be declared there (# TYPE), and every label a query selects or groups by
 * must be on that metric's samples once some traffic has made them.
 */
const ROOT = path.resolve(__dirname, '../../..');
const DASHBOARD = path.join(ROOT, 'ops/grafana/medprov-gateway.json');
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

interface Panel {
  title: string;
  type: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}

/** PromQL functions, aggregations and keywords: words followed by ( or used as modifiers, not metric names. */
const NOT_METRICS = new Set(['sum', 'max', 'min', 'avg', 'count', 'rate', 'irate', 'increase', 'delta', 'deriv', 'histogram_quantile', 'by', 'without', 'on', 'ignoring', 'le', 'and', 'or', 'unless', 'bool', 'offset']);

/** The metric selectors of a PromQL expression: name and the label names it selects or groups by. */
function selectors(expr: string): { metric: string; labels: string[] }[] {
  const withoutStrings = expr.replace(/"[^"]*"/g, '""');
  const out: { metric: string; labels: string[] }[] = [];
  const grouped = [...withoutStrings.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((l) => l.trim()).filter(Boolean));
  for (const m of withoutStrings.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{([^}]*)\})?/g)) {
    const name = m[1]!;
    if (NOT_METRICS.has(name) || /^\d/.test(name)) continue;
    // A word right before "(" is a function; inside by(...) it is a label.
    const after = withoutStrings.slice(m.index! + m[0].length).trimStart();
    if (after.startsWith('(') && !m[2]) continue;
    if (grouped.includes(name) && !m[2]) continue;
    const labels = m[3] ? [...m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)].map((l) => l[1]!) : [];
    out.push({ metric: name, labels: [...labels, ...grouped.filter((g) => g !== 'le' && g !== 'instance')].filter((l) => l !== 'instance') });
  }
  return out;
}

function panelsOf(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...panelsOf(p.panels ?? [])]);
}

/** The declared families (# TYPE name type) and each family's sample label names. */
function parseMetrics(text: string): { types: Map<string, string>; labels: Map<string, Set<string>> } {
  const types = new Map<string, string>();
  const labels = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)/.exec(line);
    if (t) {
      types.set(t[1]!, t[2]!);
      continue;
    }
    const s = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/.exec(line);
    if (!s) continue;
    const set = labels.get(s[1]!) ?? new Set<string>();
    for (const l of s[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) set.add(l[1]!);
    labels.set(s[1]!, set);
  }
  return { types, labels };
}

/** The family a series belongs to: a histogram's _bucket/_sum/_count are its own. */
function familyOf(metric: string, types: Map<string, string>): string | undefined {
  if (types.has(metric)) return metric;
  const base = metric.replace(/_(bucket|sum|count)$/, '');
  return types.get(base) === 'histogram' || types.get(base) === 'summary' ? base : undefined;
}

describe('the Grafana dashboard queries only metrics the gateway exports (issue 18)', function () {
  this.timeout(120_000);
  const ledger = new FakeLedger();
  let dir: string;
  let gateway: OrgGateway | undefined;
  let metricsText = '';
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { title: string; panels: Panel[]; templating: { list: { query: { query: string } }[] } };

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-grafana-'));
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    gateway = await startOrgGateway({
      ledger,
      mspId: HOSPITAL,
      type: 'hospital',
      dir,
      acceptance: true,
      anchorIndex: { dir: path.join(dir, 'index') },
      anchoring: NOTHING_ANCHORED,
      ledgerPeer: { status: () => ({ endpoint: 'peer0:7051', index: 0, peers: ['peer0:7051', 'peer1:7051'], switches: 0 }) },
    });
    const send = (method: string, p: string, key: string, body?: unknown, headers: Record<string, string> = {}) =>
      fetch(gateway!.url + p, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    // Traffic, so that the labelled metrics have samples: an anchor (through the journal), a verification, a consent check.
    const anchored = await send('POST', '/v1/records', ROLE_KEYS['records-officer'], { recordId: 'adm-1', docHash: sha('doc'), patientId: '900101-1234567', category: DISCHARGE }, { prefer: 'wait=20' });
    expect(anchored.status).to.equal(201);
    expect((await send('POST', '/v1/verifications', ROLE_KEYS['records-officer'], { docHash: sha('doc') })).status).to.equal(200);
    const check = await send('GET', `/v1/consents/check?${new URLSearchParams({ hospital: HOSPITAL, patientRef: sha('someone'), purpose: 'claims', category: DISCHARGE })}`, ROLE_KEYS.dpo);
    expect(check.status).to.equal(200);
    metricsText = await (await fetch(`${gateway.url}/metrics`)).text();
  });

  after(async () => {
    await gateway?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('has panels for anchors, verifies, consent decisions, queue depth and ledger lag', () => {
    const exprs = panelsOf(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');
    for (const metric of ['medprov_ledger_transactions_total', 'medprov_anchoring_log_size', 'medprov_verifications_answered', 'medprov_consent_decisions_total', 'medprov_acceptance_requests', 'medprov_anchor_index_lag_blocks']) {
      expect(exprs, metric).to.include(metric);
    }
  });

  it('every metric and label a query names is in the gateway\'s /metrics', () => {
    const { types, labels } = parseMetrics(metricsText);
    const problems: string[] = [];
    let checked = 0;
    const exprs = [
      ...panelsOf(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr }))),
      ...dashboard.templating.list.map((v) => ({ where: 'variable', expr: v.query.query.replace(/^label_values\((.*),\s*\w+\)$/, '$1') })),
    ];
    for (const { where, expr } of exprs) {
      for (const { metric, labels: used } of selectors(expr)) {
        checked++;
        const family = familyOf(metric, types);
        if (!family) {
          problems.push(`${where}: ${metric} is not exported`);
          continue;
        }
        const have = labels.get(metric) ?? labels.get(`${family}_bucket`) ?? labels.get(family);
        if (!have) continue; // declared, no sample yet (a metric without labels has none to check)
        for (const label of used) if (!have.has(label)) problems.push(`${where}: ${metric} has no label ${label} (has ${[...have].join(', ')})`);
      }
    }
    expect(problems).to.deep.equal([]);
    expect(checked, "selectors checked").to.be.greaterThan(25);
  });

  it('the selector parser finds metrics and labels (not vacuous)', () => {
    expect(selectors('histogram_quantile(0.95, sum by (le, operation) (rate(medprov_http_request_seconds_bucket{instance=~"$instance", operation="verifyDocument"}[5m])))')).to.deep.equal([
      { metric: 'medprov_http_request_seconds_bucket', labels: ['operation', 'operation'] },
    ]);
    expect(selectors('sum by (state) (medprov_acceptance_requests{instance=~"$instance"}) == 1')).to.deep.equal([{ metric: 'medprov_acceptance_requests', labels: ['state'] }]);
    const { types, labels } = parseMetrics(metricsText);
    expect(familyOf('medprov_no_such_metric', types)).to.equal(undefined);
    expect([...(labels.get('medprov_consent_decisions_total') ?? [])].sort()).to.deep.equal(['decision', 'kind', 'reason']);
    expect(familyOf('medprov_http_request_seconds_bucket', types)).to.equal('medprov_http_request_seconds');
  });
});
