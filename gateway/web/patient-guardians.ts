/**
 * The Patient page's guardians section and its one view (bundled with patient.ts, which mounts
 * them with its own helpers). Guardians: the patient names one by signing a GuardianAppointment
 * with the key for the registration's hospital, lists them, and ends one with a GuardianRevoke.
 * The one view: from the phrase alone, the key for every hospital of the consortium lists what
 * that hospital holds about the patient (gateway/src/consent/patient-overview.ts), read routes
 * only, grouped by hospital.
 *
 * @module
 */
import type { HDNodeWallet, TypedDataDomain } from 'ethers';
import { GUARDIAN_APPOINTMENT_TYPES, GUARDIAN_REVOKE_TYPES } from '../../chaincode/src/lib/eip712';
import { DAY_SECONDS, appointmentMessage, guardianRevokeMessage, type PatientRegistration } from '../src/consent/patient-client';
import { patientOverview, type HospitalOverview } from '../src/consent/patient-overview';
import { formatDate, knownOrganisations, onLanguageChange, orgName, t, type MessageKey } from './i18n';

interface DelegationView {
  delegationId: string;
  guardian: string;
  purposes: string[];
  categories: string[];
  validFrom: number;
  validUntil: number;
  basis: string;
  appointedBy: string;
  effectiveStatus: 'active' | 'revoked' | 'expired' | 'pending';
}

/** What patient.ts lends this module. */
export interface GuardianPageKit {
  api<T>(method: 'GET' | 'POST', path: string, body?: unknown, authorization?: string): Promise<T>;
  /** The answer to a fresh challenge for the registration. */
  patientAuthorization(): Promise<string>;
  walletFor(hospital: string): HDNodeWallet;
  requireRegistration(): PatientRegistration;
  /** The consent domain of the registration's channel (learnt from a challenge when not known). */
  domain(): Promise<TypedDataDomain>;
  act(button: HTMLButtonElement, fn: () => Promise<void>): Promise<void>;
  say(key: MessageKey, vars?: Record<string, string | number>): void;
  userError(message: string, focus?: string): Error;
  purposeText(purpose: string): string;
}

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const CODE = /^[A-Za-z0-9._:-]+$/;
const $ = <T extends HTMLElement>(elementId: string): T => {
  const node = document.getElementById(elementId);
  if (!node) throw new Error(`#${elementId} is missing from the page`);
  return node as T;
};

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function table(caption: string, headers: string[], rows: (string | Node)[][]): HTMLDivElement {
  const tbl = el('table');
  const cap = el('caption', caption, 'sr-only');
  const head = el('thead');
  const tr = el('tr');
  for (const h of headers) {
    const th = el('th', h);
    th.scope = 'col';
    tr.append(th);
  }
  head.append(tr);
  const body = el('tbody');
  for (const row of rows) {
    const r = el('tr');
    for (const c of row) {
      const td = el('td');
      td.append(c);
      r.append(td);
    }
    body.append(r);
  }
  tbl.append(cap, head, body);
  const wrap = el('div', undefined, 'table-wrap');
  wrap.append(tbl);
  return wrap;
}

const pill = (value: string, key: MessageKey): HTMLSpanElement => el('span', t(key), `pill ${value}`);
const STATUS: Record<DelegationView['effectiveStatus'], MessageKey> = { active: 'status.active', revoked: 'status.revoked', expired: 'status.expired', pending: 'status.pending' };
const list = (s: string): string[] => [...new Set(s.split(',').map((x) => x.trim()).filter((x) => x.length > 0))];

export function mountGuardianSections(kit: GuardianPageKit): void {
  const form = $<HTMLFormElement>('guardian-form');
  const address = $<HTMLInputElement>('guardian-address');
  const purpose = $<HTMLSelectElement>('guardian-purpose');
  const categories = $<HTMLInputElement>('guardian-categories');
  const days = $<HTMLInputElement>('guardian-days');
  const refreshButton = $<HTMLButtonElement>('guardian-refresh');
  const delegationsBox = $<HTMLDivElement>('delegations');
  const overviewButton = $<HTMLButtonElement>('overview-button');
  const overviewBox = $<HTMLDivElement>('overview');
  let shown: DelegationView[] | undefined;
  let overview: HospitalOverview[] | undefined;

  const scopeText = (d: DelegationView): string =>
    [d.purposes.map((p) => (p === 'research' ? t('purpose.research') : kit.purposeText(p))).join(', '), d.categories.join(', ')].filter((x) => x.length > 0).join(' · ') || t('patient.guardian.scopeAll');
  const basisText = (d: DelegationView): string =>
    d.basis === 'patient' ? t('patient.guardian.byPatient') : t('patient.guardian.byHospital', { basis: t(`basis.${d.basis}` as MessageKey), hospital: orgName(d.appointedBy) });

  async function load(): Promise<void> {
    const body = await kit.api<{ delegations: DelegationView[] }>('GET', '/v1/patients/me/delegations', undefined, await kit.patientAuthorization());
    shown = body.delegations;
    render();
    kit.say('patient.guardian.loaded', { count: shown.length });
  }

  function render(): void {
    if (!shown) return;
    if (shown.length === 0) {
      delegationsBox.replaceChildren(el('p', t('patient.guardian.none'), 'placeholder'));
      return;
    }
    const rows = [...shown].reverse().map((d) => {
      const action: Node = d.effectiveStatus === 'active' || d.effectiveStatus === 'pending' ? endButton(d) : document.createTextNode('—');
      const who = el('code', d.guardian);
      return [who, basisText(d), scopeText(d), `${formatDate(d.validFrom * 1000)} – ${formatDate(d.validUntil * 1000)}`, pill(d.effectiveStatus, STATUS[d.effectiveStatus]), action];
    });
    const headers = (['patient.col.guardian', 'patient.col.basis', 'patient.col.scope', 'patient.col.valid', 'patient.col.status', 'patient.col.action'] as const).map((k) => t(k));
    delegationsBox.replaceChildren(table(t('patient.guardian.caption'), headers, rows));
  }

  function endButton(d: DelegationView): HTMLButtonElement {
    const button = el('button', t('patient.guardian.end'), 'secondary end-delegation');
    button.type = 'button';
    button.setAttribute('aria-label', t('patient.guardian.endLabel', { guardian: d.guardian }));
    button.addEventListener('click', () =>
      void kit.act(button, async () => {
        const reg = kit.requireRegistration();
        const message = guardianRevokeMessage(reg, d.delegationId);
        const signature = await kit.walletFor(reg.hospital).signTypedData(await kit.domain(), GUARDIAN_REVOKE_TYPES, message);
        await kit.api('POST', '/v1/delegations/revocations', { message, signature });
        await load();
        kit.say('patient.guardian.revoked', { guardian: d.guardian });
      }),
    );
    return button;
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void kit.act($<HTMLButtonElement>('guardian-button'), async () => {
      const reg = kit.requireRegistration();
      const wallet = kit.walletFor(reg.hospital);
      const guardian = address.value.trim();
      if (!ADDRESS.test(guardian)) throw kit.userError(t('patient.guardian.badAddress'), 'guardian-address');
      const cats = list(categories.value);
      const bad = cats.find((c) => !CODE.test(c));
      if (bad) throw kit.userError(t('patient.grant.badCategory', { value: bad }), 'guardian-categories');
      const n = Number(days.value);
      if (!Number.isInteger(n) || n < 1 || n > 3650) throw kit.userError(t('patient.guardian.badDays'), 'guardian-days');
      const domain = await kit.domain();
      const now = Math.floor(Date.now() / 1000);
      const message = appointmentMessage(reg, { guardian, purposes: purpose.value ? [purpose.value] : [], categories: cats, validUntil: now + n * DAY_SECONDS }, now);
      const signature = await wallet.signTypedData(domain, GUARDIAN_APPOINTMENT_TYPES, message);
      await kit.api('POST', '/v1/delegations', { message, signature });
      await load();
      kit.say('patient.guardian.named', { guardian, until: formatDate(message.validUntil * 1000) });
    });
  });

  refreshButton.addEventListener('click', () => void kit.act(refreshButton, load));

  overviewButton.addEventListener('click', () =>
    void kit.act(overviewButton, async () => {
      const hospitals = knownOrganisations().filter((o) => o.type === 'hospital').map((o) => o.mspId);
      overview = await patientOverview(
        async (method, path, body, headers) => {
          const res = await fetch(path, {
            method,
            headers: { accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
            body: body === undefined ? undefined : JSON.stringify(body),
            credentials: 'omit',
            cache: 'no-store',
          });
          return { status: res.status, body: await res.json().catch(() => undefined) };
        },
        hospitals,
        (hospital) => kit.walletFor(hospital),
      );
      renderOverview();
      kit.say('patient.overview.loaded', { registered: overview.filter((h) => h.registered).length, hospitals: overview.length });
    }),
  );

  function renderOverview(): void {
    if (!overview) return;
    const parts: Node[] = [];
    for (const h of overview) {
      const section = el('section', undefined, 'hospital-view');
      section.dataset.hospital = h.hospital;
      const title = el('h3', orgName(h.hospital));
      section.append(title);
      if (!h.registered) {
        section.append(el('p', t('patient.overview.notRegistered'), 'placeholder'));
        parts.push(section);
        continue;
      }
      const records = (h.records ?? []) as { recordId: string; version: number; category: string; anchoredAt: string }[];
      const grants = (h.grants ?? []) as { grantee: string; purpose: string; effectiveStatus: DelegationView['effectiveStatus']; signedBy?: string }[];
      const delegations = (h.delegations ?? []) as DelegationView[];
      const entries = (h.accessLog ?? []) as { accessor: string; recordId: string; version: number; purpose: string; decision: string; at: string }[];
      section.append(el('p', t('patient.overview.counts', { records: records.length, grants: grants.length, delegations: delegations.length, entries: entries.length }), 'counts'));
      if (records.length > 0) {
        section.append(el('h4', t('patient.overview.records')));
        section.append(table(t('patient.overview.records'), [t('patient.col.record'), t('patient.col.category'), t('patient.col.anchored')], records.map((r) => [`${r.recordId} (v${r.version})`, r.category, formatDate(r.anchoredAt, true)])));
      }
      if (grants.length > 0) {
        section.append(el('h4', t('patient.grants.title')));
        section.append(
          table(
            t('patient.grants.caption'),
            [t('patient.col.organisation'), t('patient.col.purpose'), t('patient.col.status')],
            grants.map((g) => {
              const status = el('span');
              status.append(pill(g.effectiveStatus, STATUS[g.effectiveStatus]));
              if (g.signedBy === 'guardian') status.append(' ', el('span', t('patient.grant.byGuardian'), 'by-guardian'));
              return [orgName(g.grantee), kit.purposeText(g.purpose), status];
            }),
          ),
        );
      }
      if (delegations.length > 0) {
        section.append(el('h4', t('patient.guardian.caption')));
        section.append(table(t('patient.guardian.caption'), [t('patient.col.guardian'), t('patient.col.basis'), t('patient.col.status')], delegations.map((d) => [el('code', d.guardian), basisText(d), pill(d.effectiveStatus, STATUS[d.effectiveStatus])])));
      }
      if (entries.length > 0) {
        section.append(el('h4', t('patient.log.title')));
        section.append(
          table(
            t('patient.log.caption'),
            [t('patient.col.when'), t('patient.col.organisation'), t('patient.col.record'), t('patient.col.decision')],
            entries.map((e) => [formatDate(e.at, true), orgName(e.accessor), `${e.recordId} (v${e.version})`, e.decision]),
          ),
        );
      }
      parts.push(section);
    }
    overviewBox.replaceChildren(...parts);
  }

  onLanguageChange(() => {
    render();
    renderOverview();
  });
}
