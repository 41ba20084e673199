/**
 * The records office's page's words for the break-glass audit report (the DPO's or admin's), in
 * English and Korean (spread into MESSAGES by messages.ts; same conventions).
 *
 * @module
 */
export const BREAK_GLASS_MESSAGES = {
  'staff.bg.title': { en: 'Break-glass audit', ko: '응급 열람(Break-glass) 감사' },
  'staff.bg.lead': {
    en: "Every emergency access without consent that this hospital's clinicians made, or that any hospital made to this hospital's records, as the ledger holds it. For the data protection officer and the administrator.",
    ko: '이 병원 의료인이 동의 없이 한 응급 열람, 또는 다른 병원이 이 병원 기록에 한 응급 열람을 원장에 기록된 그대로 보여 줍니다. 개인정보 보호책임자와 관리자용입니다.',
  },
  // Not "API key": the registration form above has that label.
  'staff.bg.key.label': { en: 'Key of the data protection officer or administrator', ko: '개인정보 보호책임자 또는 관리자 키' },
  'staff.bg.key.hint': { en: 'Your API key. Kept in this browser tab only.', ko: '본인의 API 키입니다. 이 브라우저 탭에만 보관됩니다.' },
  'staff.bg.from': { en: 'From (UTC day)', ko: '시작일(UTC)' },
  'staff.bg.to': { en: 'To (UTC day)', ko: '종료일(UTC)' },
  'staff.bg.of': { en: "Accesses to this hospital's records (by any hospital)", ko: '이 병원 기록에 대한 열람(모든 병원)' },
  'staff.bg.show': { en: 'Show the report', ko: '보고서 보기' },
  'staff.bg.summary.by': { en: '{count} break-glass accesses by {org}, {from} to {to} (limit: {rate} per organisation per UTC day)', ko: '{org}의 응급 열람 {count}건, {from} ~ {to} (한도: 기관별 UTC 하루 {rate}건)' },
  'staff.bg.summary.of': { en: "{count} break-glass accesses to {org}'s records, {from} to {to} (limit: {rate} per organisation per UTC day)", ko: '{org} 기록에 대한 응급 열람 {count}건, {from} ~ {to} (한도: 기관별 UTC 하루 {rate}건)' },
  'staff.bg.caption': { en: 'Break-glass accesses, oldest first', ko: '응급 열람(오래된 순)' },
  'staff.bg.col.when': { en: 'When', ko: '일시' },
  'staff.bg.col.who': { en: 'Who', ko: '열람 기관' },
  'staff.bg.col.record': { en: 'Record', ko: '기록' },
  'staff.bg.col.reason': { en: 'Reason', ko: '사유' },
  'staff.bg.col.tx': { en: 'Ledger transaction', ko: '원장 트랜잭션' },
} as const;
