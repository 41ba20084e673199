/**
 * The Patient page's words for guardians and the one view, in English and Korean (spread into
 * MESSAGES by messages.ts; same conventions).
 *
 * @module
 */
export const GUARDIAN_MESSAGES = {
  'patient.guardian.title': { en: '5. Guardians', ko: '5. 대리인' },
  'patient.guardian.hint': {
    en: "Name someone who may give and withdraw access for you at this hospital, with their own key. Ask them for the address of their key for this hospital (their own recovery phrase gives one per hospital). You can end it at any time; your hospital can also record a guardian on a legal basis (a minor, incapacity, a court order).",
    ko: '이 병원에서 본인을 대신해 자신의 키로 접근을 허용하고 철회할 사람을 지정합니다. 그 사람의 이 병원용 키 주소를 받으세요(각자의 복구 문구로 병원마다 하나씩 만들어집니다). 언제든지 끝낼 수 있으며, 병원도 법적 근거(미성년자, 의사무능력, 법원 명령)에 따라 대리인을 기록할 수 있습니다.',
  },
  'patient.guardian.address': { en: "Guardian's address for this hospital", ko: '대리인의 이 병원용 주소' },
  'patient.guardian.purpose': { en: 'May give access for', ko: '허용할 수 있는 목적' },
  'patient.guardian.anyPurpose': { en: 'Any purpose', ko: '모든 목적' },
  'patient.guardian.categories': { en: 'Document types the guardian may cover (blank: any)', ko: '대리인이 허용할 수 있는 문서 유형(비우면 전체)' },
  'patient.guardian.days': { en: 'Delegation lasts (days)', ko: '위임 기간(일)' },
  'patient.guardian.button': { en: 'Sign and name the guardian', ko: '서명하고 대리인 지정' },
  'patient.guardian.refresh': { en: 'Show my guardians', ko: '내 대리인 보기' },
  'patient.guardian.badAddress': { en: "Enter the guardian's address: 0x and 40 hexadecimal characters.", ko: '대리인 주소를 입력하세요: 0x와 16진수 40자.' },
  'patient.guardian.badDays': { en: 'Enter a number of days from 1 to 3650.', ko: '1에서 3650 사이의 일수를 입력하세요.' },
  'patient.guardian.named': { en: 'Guardian {guardian} named until {until}.', ko: '대리인 {guardian}을(를) {until}까지 지정했습니다.' },
  'patient.guardian.revoked': { en: 'Guardian {guardian} may no longer act for you.', ko: '대리인 {guardian}은(는) 더 이상 본인을 대신할 수 없습니다.' },
  'patient.guardian.loaded': { en: '{count} guardian delegation(s).', ko: '대리인 위임 {count}건.' },
  'patient.guardian.none': { en: 'No guardian has been named.', ko: '지정된 대리인이 없습니다.' },
  'patient.guardian.end': { en: 'End', ko: '끝내기' },
  'patient.guardian.endLabel': { en: 'End the delegation to {guardian}', ko: '{guardian}에 대한 위임 끝내기' },
  'patient.guardian.caption': { en: 'Your guardians', ko: '내 대리인' },
  'patient.guardian.byPatient': { en: 'named by you', ko: '본인이 지정' },
  'patient.guardian.byHospital': { en: '{basis}, recorded by {hospital}', ko: '{basis}, {hospital} 기록' },
  'patient.guardian.scopeAll': { en: 'anything', ko: '전체' },
  'patient.col.guardian': { en: 'Guardian', ko: '대리인' },
  'patient.col.basis': { en: 'Named', ko: '지정 근거' },
  'patient.col.scope': { en: 'May give access to', ko: '허용 범위' },
  'basis.minor': { en: 'minor', ko: '미성년자' },
  'basis.incapacity': { en: 'incapacity', ko: '의사무능력' },
  'basis.court-order': { en: 'court order', ko: '법원 명령' },
  'patient.grant.byGuardian': { en: 'by your guardian', ko: '대리인이 허용' },
  'patient.overview.title': { en: '6. Everything about you, at every hospital', ko: '6. 모든 병원의 내 정보 한눈에 보기' },
  'patient.overview.hint': {
    en: "From your recovery phrase alone, this page makes your key for each hospital of the consortium and asks, with a one-time signature per request, what each hospital holds about you: records, access given, guardians and who accessed. Nothing is written, and nothing on the ledger links your hospitals. This gateway does see that one session asked about each of your hospital keys.",
    ko: '복구 문구만으로 컨소시엄의 병원마다 키를 만들고, 요청마다 일회용 서명으로 각 병원이 가진 내 정보(기록, 허용한 접근, 대리인, 열람 기록)를 조회합니다. 아무것도 기록되지 않으며 원장에는 병원들을 연결하는 값이 남지 않습니다. 다만 이 게이트웨이는 한 세션이 내 병원별 키를 차례로 조회했다는 것을 알 수 있습니다.',
  },
  'patient.overview.button': { en: 'Show everything', ko: '모두 보기' },
  'patient.overview.loaded': { en: 'Registered at {registered} of {hospitals} hospitals.', ko: '병원 {hospitals}곳 중 {registered}곳에 등록되어 있습니다.' },
  'patient.overview.notRegistered': { en: 'Not registered at this hospital.', ko: '이 병원에 등록되어 있지 않습니다.' },
  'patient.overview.counts': { en: '{records} record(s), {grants} grant(s), {delegations} guardian delegation(s), {entries} access-log entr(ies)', ko: '기록 {records}건, 접근 허용 {grants}건, 대리인 위임 {delegations}건, 열람 기록 {entries}건' },
  'patient.overview.records': { en: 'Records', ko: '기록' },
  'patient.col.category': { en: 'Category', ko: '종류' },
  'patient.col.anchored': { en: 'Anchored', ko: '등록 시각' },
} as const;
