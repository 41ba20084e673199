/**
 * The break-glass audit report on the records office's page (GET /v1/audit/break-glass with the
 * DPO's or admin's key): the period's emergency accesses by this hospital, or to its records, as a
 * table. Korean and English like the rest of the page.
 */
import { formatDate, orgName, reasonText, t, type MessageKey } from './i18n';
import { showFailure, type PageFailure } from './error-box';
import { MESSAGES } from './messages';

/** A gateway role (clinician, …) in the reader's words; an unknown one as it came. */
const roleText = (role: string): string => (`role.${role}` in MESSAGES ? t(`role.${role}` as MessageKey) : role);

interface AuditEntry {
  accessor: string;
  role?: string;
  issuer: string;
  recordId: string;
  version: number;
  breakGlassReason?: string;
  at: string;
  txId: string;
}
interface Audit {
  side: 'by' | 'of';
  mspId: string;
  from: string;
  to: string;
  perOrgPerDay: number;
  entries: AuditEntry[];
}

const KEY_STORAGE = 'medprov.staff.auditKey';

const $ = <T extends HTMLElement>(id: string): T => {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing from the page`);
  return node as T;
};

/** Wires the audit form; returns what redraws it in the language chosen. */
export function mountBreakGlassAudit(): () => void {
  const form = $<HTMLFormElement>('bg-form');
  const keyInput = $<HTMLInputElement>('bg-key');
  const fromInput = $<HTMLInputElement>('bg-from');
  const toInput = $<HTMLInputElement>('bg-to');
  const ofInput = $<HTMLInputElement>('bg-of');
  const button = $<HTMLButtonElement>('bg-show');
  const errorBox = $<HTMLDivElement>('bg-error');
  const result = $<HTMLElement>('bg-result');
  let shown: Audit | undefined;
  let failure: PageFailure | undefined;

  keyInput.value = sessionStorage.getItem(KEY_STORAGE) ?? '';
  keyInput.addEventListener('input', () => {
    const key = keyInput.value.trim();
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  });
  const today = new Date().toISOString().slice(0, 10);
  toInput.value ||= today;
  fromInput.value ||= new Date(Date.now() - 29 * 86_400_000).toISOString().slice(0, 10);

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void show();
  });

  async function show(): Promise<void> {
    if (button.disabled) return;
    const key = keyInput.value.trim();
    if (!key) {
      failure = { text: () => t('staff.key.needed') };
      render();
      keyInput.focus();
      return;
    }
    button.disabled = true;
    try {
      const query = new URLSearchParams({ side: ofInput.checked ? 'of' : 'by', ...(fromInput.value ? { from: fromInput.value } : {}), ...(toInput.value ? { to: toInput.value } : {}) });
      let res: Response;
      try {
        res = await fetch(`/v1/audit/break-glass?${query}`, { headers: { authorization: `Bearer ${key}`, accept: 'application/json' }, credentials: 'omit', cache: 'no-store' });
      } catch {
        failure = { text: () => t('common.error.unreachable') };
        return render();
      }
      const body = (await res.json().catch(() => undefined)) as (Audit & { error?: { code?: string; message?: string } }) | undefined;
      if (!res.ok || !body?.entries) {
        const status = res.status;
        failure = body?.error?.code ? { code: body.error.code, message: body.error.message ?? '' } : { text: () => t('common.error.status', { status }) };
        shown = undefined;
        return render();
      }
      failure = undefined;
      shown = body;
      render();
      result.focus();
    } finally {
      button.disabled = false;
    }
  }

  function render(): void {
    if (failure) showFailure(errorBox, failure);
    else errorBox.hidden = true;
    if (!shown) {
      result.hidden = true;
      return;
    }
    const a = shown;
    const summary = document.createElement('p');
    summary.id = 'bg-summary';
    summary.textContent = t(a.side === 'by' ? 'staff.bg.summary.by' : 'staff.bg.summary.of', { count: a.entries.length, org: orgName(a.mspId), from: a.from, to: a.to, rate: a.perOrgPerDay });
    const table = document.createElement('table');
    const caption = document.createElement('caption');
    caption.textContent = t('staff.bg.caption');
    const head = document.createElement('tr');
    for (const k of ['staff.bg.col.when', 'staff.bg.col.who', 'staff.bg.col.record', 'staff.bg.col.reason', 'staff.bg.col.tx'] as const) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.textContent = t(k);
      head.append(th);
    }
    const thead = document.createElement('thead');
    thead.append(head);
    const tbody = document.createElement('tbody');
    for (const e of a.entries) {
      const tr = document.createElement('tr');
      tr.className = 'bg-entry';
      const cells = [formatDate(e.at, true), `${orgName(e.accessor)}${e.role ? ` (${roleText(e.role)})` : ''}`, `${orgName(e.issuer)} · ${e.recordId} (v${e.version})`, reasonText(e.breakGlassReason ?? ''), e.txId];
      for (const [i, text] of cells.entries()) {
        const td = document.createElement('td');
        td.textContent = text;
        if (i === 4) td.className = 'tx';
        tr.append(td);
      }
      tbody.append(tr);
    }
    table.append(caption, thead, tbody);
    result.replaceChildren(summary, ...(a.entries.length > 0 ? [table] : []));
    result.hidden = false;
  }

  return render;
}
