/**
 * Every error code the gateway can answer, as a sentence a person reads in the pages, in
 * English and Korean. The pages show this sentence in the reader's language with the code; the
 * gateway's own (English, more specific) sentence goes with it as a detail. A unit test
 * (test/unit/web/i18n.test.ts) checks that every code the gateway's sources can send is here.
 *
 * @module
 */
import type { Lang } from './language';

/** code → [English, Korean]. */
const SENTENCES: Record<string, readonly [en: string, ko: string]> = {
  // ── requests and authentication ──
  AUTH_REQUIRED: ['Send your API key with the request.', 'API 키를 함께 보내 주세요.'],
  AUTH_INVALID: ['This API key is not known to this gateway.', '이 게이트웨이에 등록되지 않은 API 키입니다.'],
  FORBIDDEN_ROLE: ['Your role may not do this.', '현재 역할로는 이 작업을 할 수 없습니다.'],
  FORBIDDEN_ORG_TYPE: ['This kind of organisation may not do this.', '이 유형의 기관은 이 작업을 할 수 없습니다.'],
  FORBIDDEN_OTHER_ORG: ['This organisation cannot act for another organisation.', '이 기관은 다른 기관을 대신하여 이 작업을 할 수 없습니다.'],
  FORBIDDEN_NOT_ISSUER: ['Only the organisation that issued the record may change it.', '기록을 발행한 기관만 기록을 변경할 수 있습니다.'],
  FORBIDDEN_NOT_ADMIN: ["Only an organisation's administrator may do this.", '기관 관리자만 이 작업을 할 수 있습니다.'],
  FORBIDDEN_PURPOSE: ['Your role may not read for this purpose.', '현재 역할로는 이 목적의 정보를 볼 수 없습니다.'],
  RATE_LIMITED: ['Too many requests: wait a few seconds and try again.', '요청이 너무 많습니다. 몇 초 후 다시 시도해 주세요.'],
  ROUTE_NOT_FOUND: ['This gateway has no such address.', '이 게이트웨이에 없는 주소입니다.'],
  INVALID_JSON: ['The request is not valid JSON.', '요청이 올바른 JSON 형식이 아닙니다.'],
  INVALID_REQUEST: ['The request is not valid: a field is missing or has the wrong form.', '요청이 올바르지 않습니다. 빠졌거나 형식이 잘못된 항목이 있습니다.'],
  INVALID_ARGUMENT: ['A value in the request is out of range or has the wrong form.', '요청의 값이 허용 범위를 벗어났거나 형식이 잘못되었습니다.'],
  INVALID_FORMAT: ['This format is not offered here.', '이 형식은 제공되지 않습니다.'],
  INVALID_PATH: ['The address of the request is not valid.', '요청 주소가 올바르지 않습니다.'],
  INVALID_HASH: ['A hash has the wrong length or form.', '해시의 길이 또는 형식이 잘못되었습니다.'],
  UNKNOWN_FIELD: ['The request has a field this gateway does not know.', '요청에 게이트웨이가 알지 못하는 항목이 있습니다.'],
  BODY_TOO_LARGE: ['The request is larger than this gateway accepts.', '요청이 게이트웨이가 받을 수 있는 크기보다 큽니다.'],
  HEADERS_TOO_LARGE: ['The request headers are too large.', '요청 헤더가 너무 큽니다.'],
  MALFORMED_REQUEST: ['The request is not valid HTTP.', '요청이 올바른 HTTP 형식이 아닙니다.'],
  REQUEST_TIMEOUT: ['The request did not arrive in time; send it again.', '요청이 제시간에 도착하지 않았습니다. 다시 보내 주세요.'],
  INTERNAL: ['Something went wrong in the gateway; the request was not completed. Try again.', '게이트웨이에서 문제가 발생하여 요청이 완료되지 않았습니다. 다시 시도해 주세요.'],
  // ── uploads ──
  UNSUPPORTED_MEDIA_TYPE: ['Send the document as a file upload (multipart/form-data).', '문서를 파일 업로드(multipart/form-data) 형식으로 보내 주세요.'],
  MALFORMED_MULTIPART: ['The upload is damaged or incomplete.', '업로드가 손상되었거나 불완전합니다.'],
  DOCUMENT_MISSING: ['The upload has no document.', '업로드에 문서가 없습니다.'],
  DOCUMENT_TOO_LARGE: ['The document is larger than this gateway accepts.', '문서가 게이트웨이가 받을 수 있는 크기보다 큽니다.'],
  DUPLICATE_FIELD: ['A form field was sent twice.', '같은 양식 항목이 두 번 전송되었습니다.'],
  FIELD_TOO_LARGE: ['A form field is too long.', '양식 항목이 너무 깁니다.'],
  TOO_MANY_PARTS: ['The upload has too many parts: send one file.', '업로드에 항목이 너무 많습니다. 파일 하나만 보내 주세요.'],
  UNEXPECTED_FILE: ['Send exactly one file.', '파일을 정확히 하나만 보내 주세요.'],
  TOO_MANY_UPLOADS: ['You have too many uploads in progress; wait until one has finished.', '진행 중인 업로드가 너무 많습니다. 하나가 끝난 뒤 보내 주세요.'],
  UPLOADS_BUSY: ['The gateway is receiving as many uploads as it can; try again in a moment.', '게이트웨이가 처리할 수 있는 최대 업로드를 받고 있습니다. 잠시 후 다시 시도해 주세요.'],
  UPLOAD_INTERRUPTED: ['The upload stopped before it was complete.', '업로드가 완료되기 전에 중단되었습니다.'],
  UPLOAD_TIMEOUT: ['The upload stopped arriving; send it again.', '업로드가 더 이상 도착하지 않았습니다. 다시 보내 주세요.'],
  // ── records ──
  RECORD_NOT_FOUND: ['No such record on the ledger.', '원장에 해당 기록이 없습니다.'],
  RECORD_EXISTS: ['This record already exists; amend it to issue a new version.', '이미 있는 기록입니다. 새 버전은 수정으로 발행해 주세요.'],
  RECORD_RETRACTED: ['The record is retracted and cannot be changed.', '철회된 기록이라 변경할 수 없습니다.'],
  DOC_HASH_CLAIMED: ['This document is already anchored by an organisation.', '이 문서는 이미 한 기관이 원장에 등록했습니다.'],
  BATCH_INVALID: ['The batch of records is not valid (a record repeats or a field is wrong).', '기록 묶음이 올바르지 않습니다(중복 기록 또는 잘못된 항목).'],
  DUPLICATE_RECORD: ['The same record is named twice.', '같은 기록이 두 번 들어 있습니다.'],
  COMMITMENT_KEY_UNAVAILABLE: ['This gateway cannot make salted commitments.', '이 게이트웨이는 솔트 커밋먼트를 만들 수 없습니다.'],
  // ── the ledger ──
  LEDGER_UNAVAILABLE: ['The ledger cannot be reached right now; nothing was recorded. Try again shortly.', '지금은 원장에 연결할 수 없어 아무것도 기록되지 않았습니다. 잠시 후 다시 시도해 주세요.'],
  LEDGER_TIMEOUT: ['The ledger did not answer in time; try again shortly.', '원장이 제시간에 응답하지 않았습니다. 잠시 후 다시 시도해 주세요.'],
  LEDGER_ERROR: ['The ledger failed to process the request.', '원장이 요청을 처리하지 못했습니다.'],
  MVCC_CONFLICT: ['Another change of the same data came first; try again.', '같은 데이터에 대한 다른 변경이 먼저 처리되었습니다. 다시 시도해 주세요.'],
  ENDORSEMENT_MISMATCH: ["The organisations' peers did not agree; try again.", '기관들의 피어가 서로 다른 결과를 냈습니다. 다시 시도해 주세요.'],
  ENDORSEMENT_POLICY_FAILURE: ['The ledger refused the write: not enough organisations endorsed it.', '보증한 기관이 부족하여 원장이 기록을 거부했습니다.'],
  TRANSACTION_TIME_SKEWED: ["The transaction's time is too far from the ledger's; check the clock.", '거래 시각이 원장 시각과 너무 다릅니다. 시계를 확인해 주세요.'],
  UNKNOWN_TRANSACTION: ['The ledger does not know this transaction.', '원장이 알지 못하는 거래입니다.'],
  INVALID_IDENTIFIER: ['This identifier is not valid.', '식별자가 올바르지 않습니다.'],
  CONSORTIUM_NOT_CONFIGURED: ['The consortium is not set up yet.', '컨소시엄이 아직 설정되지 않았습니다.'],
  CONSORTIUM_ALREADY_CONFIGURED: ['The consortium is already set up.', '컨소시엄이 이미 설정되어 있습니다.'],
  ORG_NOT_IN_CONSORTIUM: ['This organisation is not a member of the consortium.', '컨소시엄 회원 기관이 아닙니다.'],
  // ── patients, registration and consent ──
  PATIENT_NOT_REGISTERED: ['This key is not registered at a hospital yet; register it at your hospital first.', '이 키는 아직 병원에 등록되지 않았습니다. 먼저 병원에서 등록해 주세요.'],
  PATIENT_ALREADY_REGISTERED: ['This patient is already registered with another key.', '이 환자는 이미 다른 키로 등록되어 있습니다.'],
  PATIENT_KEY_IN_USE: ['This key is already registered for another patient record; use the key made for this hospital.', '이 키는 이미 다른 환자 기록에 등록되어 있습니다. 이 병원용 키를 사용해 주세요.'],
  PATIENT_KEY_ERASED: ["This patient's data was erased at their request.", '환자의 요청으로 이 환자의 정보가 삭제되었습니다.'],
  PATIENT_BINDING_MISMATCH: ["The hospital and patient reference given are not this key's registration.", '입력한 병원과 환자 참조 번호가 이 키의 등록 정보와 다릅니다.'],
  PATIENT_AUTH_REQUIRED: ['Sign in with your key to see this.', '이 내용을 보려면 키로 서명해 주세요.'],
  PATIENT_AUTH_INVALID: ['Your signed sign-in could not be read; try again.', '서명된 로그인 정보를 읽을 수 없습니다. 다시 시도해 주세요.'],
  PATIENT_SIGNATURE_INVALID: ['Your sign-in signature does not match what the gateway asked for; try again.', '로그인 서명이 게이트웨이의 요청과 맞지 않습니다. 다시 시도해 주세요.'],
  CHALLENGE_UNKNOWN: ['The gateway did not issue this sign-in (or has forgotten it); try again.', '게이트웨이가 발급하지 않았거나 잊어버린 로그인 요청입니다. 다시 시도해 주세요.'],
  CHALLENGE_EXPIRED: ['The sign-in took too long and expired; try again.', '로그인 요청이 만료되었습니다. 다시 시도해 주세요.'],
  CHALLENGE_USED: ['This sign-in was already used; try again.', '이미 사용된 로그인 요청입니다. 다시 시도해 주세요.'],
  SIGNATURE_INVALID: ['The signature is not valid for this key and message.', '이 키와 내용에 맞는 서명이 아닙니다.'],
  SIGNER_NOT_PATIENT: ["This was not signed with the patient's registered key.", '환자가 등록한 키로 서명되지 않았습니다.'],
  NONCE_REUSED: ['This signed request was already used; sign it again.', '이미 사용된 서명 요청입니다. 다시 서명해 주세요.'],
  GRANT_EXPIRED: ['The access would already have ended; choose a later end date.', '접근 허용 기간이 이미 지났습니다. 더 늦은 종료일을 선택해 주세요.'],
  GRANT_NOT_FOUND: ['No such grant.', '해당 접근 허용 내역이 없습니다.'],
  CONSENT_REQUIRED: ["Another organisation's record is read only with a purpose and the patient's consent.", '다른 기관의 기록은 목적과 환자의 동의가 있어야 볼 수 있습니다.'],
  CONSENT_DENIED: ["The patient's consent does not allow this access; the attempt was logged.", '환자의 동의 범위를 벗어난 접근이며, 이 시도는 기록되었습니다.'],
  REGISTRATION_REQUEST_UNKNOWN: ['This registration request was not issued by this hospital (or it restarted since); ask the staff for a new one.', '이 병원이 발급하지 않았거나 재시작으로 잊혀진 등록 요청입니다. 직원에게 새 요청을 받아 주세요.'],
  REGISTRATION_REQUEST_EXPIRED: ['The registration request has expired; ask the staff for a new one.', '등록 요청이 만료되었습니다. 직원에게 새 요청을 받아 주세요.'],
  REGISTRATION_REQUEST_MISMATCH: ['The registration does not match the request it answers.', '등록 내용이 요청과 일치하지 않습니다.'],
  REGISTRATION_LINK_UNKNOWN: ['This registration link is not known here (mistyped, or the gateway restarted); ask the hospital for a new one.', '알 수 없는 등록 링크입니다(잘못 입력했거나 게이트웨이가 재시작됨). 병원에 새 링크를 요청해 주세요.'],
  REGISTRATION_LINK_EXPIRED: ['This registration link has expired; ask the hospital for a new one.', '등록 링크가 만료되었습니다. 병원에 새 링크를 요청해 주세요.'],
  REGISTRATION_LINK_USED: ['This registration link has already been used: a link registers once. Ask the hospital for a new one if you need it.', '이미 사용된 등록 링크입니다. 링크는 한 번만 쓸 수 있으니, 필요하면 병원에 새 링크를 요청해 주세요.'],
  REGISTRATION_LINK_BUSY: ['This registration is being completed right now; wait a moment and reload the page.', '지금 이 등록을 처리하고 있습니다. 잠시 후 페이지를 새로 고쳐 주세요.'],
  REGISTRATION_LINK_MISMATCH: ['What was signed is not the registration of this link; open the link again.', '서명한 내용이 이 링크의 등록 요청과 다릅니다. 링크를 다시 열어 주세요.'],
  TOO_MANY_PENDING: ['Too many requests are waiting; try again in a few minutes.', '대기 중인 요청이 너무 많습니다. 몇 분 후 다시 시도해 주세요.'],
  INVALID_EVENT_ID: ['This is not an event id of the stream.', '스트림의 이벤트 번호가 아닙니다.'],
  FEED_CORRUPT: ['The consent feed is damaged; an operator must look.', '동의 변경 기록 파일이 손상되었습니다. 운영자의 확인이 필요합니다.'],
  FEED_LOCKED: ['Another process holds the consent feed.', '다른 프로세스가 동의 변경 기록 파일을 사용 중입니다.'],
  FEED_WRITE_FAILED: ['Writing the consent feed failed; it is retried.', '동의 변경 기록을 쓰지 못했습니다. 다시 시도합니다.'],
  // ── verification, receipts and anchoring ──
  ANCHORING_OFF: ['This gateway issues no receipts.', '이 게이트웨이는 영수증을 발급하지 않습니다.'],
  NOT_IN_ANCHOR_LOG: ['This document is not in the anchor log (not anchored, or anchored moments ago).', '이 문서는 앵커 로그에 없습니다(등록되지 않았거나 방금 등록됨).'],
  LEAF_NOT_FOUND: ['This document is not in the anchor log.', '이 문서는 앵커 로그에 없습니다.'],
  LEAF_INVALID: ['An entry of the log or archive is not valid.', '로그 또는 보관 묶음의 항목이 올바르지 않습니다.'],
  RECEIPT_MALFORMED: ['The receipt is not a well-formed receipt.', '영수증 형식이 올바르지 않습니다.'],
  RECEIPT_PENDING: ['The receipt is not ready yet: no public checkpoint covers the document yet. Try again later.', '영수증이 아직 준비되지 않았습니다. 공개 체크포인트가 아직 이 문서를 포함하지 않습니다. 나중에 다시 시도해 주세요.'],
  RECEIPT_UNSUPPORTED_VERSION: ['This receipt version is not supported.', '지원하지 않는 영수증 버전입니다.'],
  PROOF_MALFORMED: ['The inclusion proof is malformed.', '포함 증명의 형식이 잘못되었습니다.'],
  SIZES_OUT_OF_ORDER: ['The proof asks for sizes out of order.', '증명의 크기 순서가 잘못되었습니다.'],
  INDEX_OUT_OF_RANGE: ['The position is beyond the end of the log.', '위치가 로그 범위를 벗어났습니다.'],
  CHECKPOINT_FORK: ['The public checkpoint disagrees with this log; an operator must investigate.', '공개 체크포인트가 이 로그와 다릅니다. 운영자의 조사가 필요합니다.'],
  CHECKPOINT_INCONSISTENT: ['The public checkpoint is not consistent with this log; an operator must investigate.', '공개 체크포인트가 이 로그와 일관되지 않습니다. 운영자의 조사가 필요합니다.'],
  CHECKPOINTER_HALTED: ['Checkpoints are no longer written; an operator must investigate.', '체크포인트 기록이 멈췄습니다. 운영자의 조사가 필요합니다.'],
  SOURCE_INCONSISTENT: ["The ledger's events and state disagree; an operator must investigate.", '원장의 이벤트와 상태가 서로 다릅니다. 운영자의 조사가 필요합니다.'],
  LOG_CLOSED: ['The anchor log is closed.', '앵커 로그가 닫혀 있습니다.'],
  LOG_CORRUPT: ['The anchor log is damaged; an operator must look.', '앵커 로그가 손상되었습니다. 운영자의 확인이 필요합니다.'],
  LOG_LOCKED: ['Another process holds the anchor log.', '다른 프로세스가 앵커 로그를 사용 중입니다.'],
  LOG_OUT_OF_ORDER: ['An anchor arrived out of order.', '앵커가 순서에 맞지 않게 도착했습니다.'],
  LOG_TAMPERED: ['The anchor log was changed on disk; an operator must look.', '디스크의 앵커 로그가 변경되었습니다. 운영자의 확인이 필요합니다.'],
  LOG_TRUNCATED: ['Part of the anchor log is missing; an operator must look.', '앵커 로그 일부가 없습니다. 운영자의 확인이 필요합니다.'],
  LOG_UNSUPPORTED: ['The anchor log has a format this version cannot read.', '이 버전이 읽을 수 없는 앵커 로그 형식입니다.'],
  LOG_WRITE_FAILED: ['Writing the anchor log failed.', '앵커 로그를 쓰지 못했습니다.'],
  INDEX_BAD_EVENT: ['The anchor index met an event it cannot read.', '앵커 색인이 읽을 수 없는 이벤트를 만났습니다.'],
  INDEX_CORRUPT: ['The anchor index is damaged; it is rebuilt from the ledger.', '앵커 색인이 손상되었습니다. 원장에서 다시 만들어야 합니다.'],
  INDEX_LOCKED: ['Another process holds the anchor index.', '다른 프로세스가 앵커 색인을 사용 중입니다.'],
  INDEX_STOPPED: ['The anchor index was stopped.', '앵커 색인이 중지되었습니다.'],
  REGISTRY_ARTIFACT_MISSING: ['The public registry contract is not built.', '공개 레지스트리 컨트랙트가 빌드되지 않았습니다.'],
  REGISTRY_CONFIG_INVALID: ['The public registry settings are missing or wrong.', '공개 레지스트리 설정이 없거나 잘못되었습니다.'],
  REGISTRY_NOT_FOUND: ['No public registry contract is at the configured address.', '설정된 주소에 공개 레지스트리 컨트랙트가 없습니다.'],
  REGISTRY_REJECTED: ['The public registry refused the checkpoint.', '공개 레지스트리가 체크포인트를 거부했습니다.'],
  REGISTRY_SIZE_NOT_INCREASING: ['The public registry already holds a larger checkpoint.', '공개 레지스트리에 이미 더 큰 체크포인트가 있습니다.'],
  REGISTRY_UNAUTHORIZED: ['This gateway may not write to the public registry.', '이 게이트웨이는 공개 레지스트리에 기록할 권한이 없습니다.'],
  REGISTRY_UNAVAILABLE: ['The public registry cannot be reached right now.', '지금은 공개 레지스트리에 연결할 수 없습니다.'],
  // ── archives ──
  ARCHIVE_EXISTS: ['This archive is already anchored with other contents.', '이 보관 묶음은 이미 다른 내용으로 등록되어 있습니다.'],
  ARCHIVE_NOT_FOUND: ['No such archive on the ledger.', '원장에 해당 보관 묶음이 없습니다.'],
  ARCHIVE_EMPTY: ['An archive needs at least one file.', '보관 묶음에는 파일이 하나 이상 있어야 합니다.'],
  ARCHIVE_ENTRY_NOT_FOUND: ['The archive has no such file.', '보관 묶음에 해당 파일이 없습니다.'],
  ARCHIVE_PATH_INVALID: ["A file's path in the archive is not allowed.", '보관 묶음의 파일 경로가 허용되지 않습니다.'],
  ARCHIVE_READ_FAILED: ['The archive could not be read.', '보관 묶음을 읽을 수 없습니다.'],
  ARCHIVE_WRITE_FAILED: ['The archive could not be written.', '보관 묶음을 쓸 수 없습니다.'],
  ARCHIVE_ANCHOR_FAILED: ["The archive was written but its anchoring failed; anchor it again later.", '보관 묶음은 만들어졌지만 원장 등록에 실패했습니다. 나중에 다시 등록해 주세요.'],
  // ── accepted writes ──
  IDEMPOTENCY_KEY_REUSED: ['This Idempotency-Key was already used for a different request.', '이 Idempotency-Key는 이미 다른 요청에 사용되었습니다.'],
  IDEMPOTENCY_KEY_INVALID: ['The Idempotency-Key header is not valid.', 'Idempotency-Key 헤더가 올바르지 않습니다.'],
  REQUEST_NOT_FOUND: ['No accepted request has this id.', '이 번호로 접수된 요청이 없습니다.'],
  JOURNAL_CORRUPT: ["The gateway's journal is damaged; an operator must look.", '게이트웨이 접수 기록이 손상되었습니다. 운영자의 확인이 필요합니다.'],
  JOURNAL_UNSUPPORTED: ["The gateway's journal has a format this version cannot read.", '이 버전이 읽을 수 없는 접수 기록 형식입니다.'],
  JOURNAL_WRITE_FAILED: ['The gateway could not record the request; nothing was accepted.', '게이트웨이가 요청을 기록하지 못해 접수되지 않았습니다.'],
  JOURNAL_CLOSED: ['The gateway is stopping; try again shortly.', '게이트웨이가 종료 중입니다. 잠시 후 다시 시도해 주세요.'],
  JOURNAL_LOCKED: ["Another process holds the gateway's journal.", '다른 프로세스가 게이트웨이 접수 기록을 사용 중입니다.'],
  STORAGE_FULL: ["The gateway's disk is full; nothing was accepted. Try again later.", '게이트웨이 디스크가 가득 차 접수되지 않았습니다. 나중에 다시 시도해 주세요.'],
  // ── privacy: keys, erasure, rotation ──
  DIRECT_IDENTIFIER: ['A field looks like a personal identifier; use an opaque id or code.', '개인 식별 정보로 보이는 항목이 있습니다. 식별할 수 없는 번호나 코드를 사용해 주세요.'],
  ERASURE_NOT_FOUND: ['No such erasure is recorded.', '기록된 삭제 내역이 없습니다.'],
  ERASURE_NOT_CONFIRMED: ['The erasure is not confirmed on the ledger yet.', '삭제 내역이 아직 원장에서 확인되지 않았습니다.'],
  ERASURE_NOT_RECORDED: ['The erasure was done but is not recorded on the ledger yet.', '삭제는 되었지만 아직 원장에 기록되지 않았습니다.'],
  MASTER_KEY_MISSING: ['No master key is configured.', '마스터 키가 설정되지 않았습니다.'],
  MASTER_KEY_MALFORMED: ['The master key has the wrong form.', '마스터 키의 형식이 잘못되었습니다.'],
  MASTER_KEY_INVALID: ['The master key does not open the key store.', '마스터 키로 키 저장소를 열 수 없습니다.'],
  MASTER_KEY_WEAK: ['The master key is not random enough.', '마스터 키가 충분히 무작위적이지 않습니다.'],
  MASTER_KEY_REUSED: ['This master key was used before.', '이전에 사용한 마스터 키입니다.'],
  MASTER_KEY_FILE_UNSAFE: ['The file with the next master key may be read by others.', '다음 마스터 키 파일을 다른 사용자가 읽을 수 있습니다.'],
  ROTATION_IN_PROGRESS: ['A key rotation is already under way.', '키 교체가 이미 진행 중입니다.'],
  ROTATION_INCOMPLETE: ['The key rotation is not complete.', '키 교체가 완료되지 않았습니다.'],
  STORE_CLOSED: ['The key store is closed.', '키 저장소가 닫혀 있습니다.'],
  STORE_CORRUPT: ['The key store is damaged.', '키 저장소가 손상되었습니다.'],
  STORE_LOCKED: ['Another process holds the key store.', '다른 프로세스가 키 저장소를 사용 중입니다.'],
  STORE_NOT_FOUND: ['The key store does not exist.', '키 저장소가 없습니다.'],
  STORE_TAMPERED: ['The key store failed its integrity check.', '키 저장소의 무결성 검사가 실패했습니다.'],
  STORE_WRITE_FAILED: ['Writing the key store failed; nothing was changed.', '키 저장소를 쓰지 못해 아무것도 바뀌지 않았습니다.'],
  SHARES_DUPLICATE: ['The same key share was given twice.', '같은 키 조각이 두 번 주어졌습니다.'],
  SHARES_INCONSISTENT: ['The key shares do not combine to the key.', '키 조각을 합쳐도 키가 되지 않습니다.'],
  SHARES_INVALID: ['The key split settings are not valid.', '키 분할 설정이 올바르지 않습니다.'],
  SHARES_MIXED: ['Shares of different splits were given together.', '서로 다른 분할의 키 조각이 섞여 있습니다.'],
  SHARES_TOO_FEW: ['Too few key shares were given.', '키 조각이 부족합니다.'],
  SHARE_MALFORMED: ['A key share has the wrong form.', '키 조각의 형식이 잘못되었습니다.'],
  // ── backups ──
  BACKUP_FOREIGN: ['This backup is not of this gateway.', '이 게이트웨이의 백업이 아닙니다.'],
  BACKUP_KEY_INVALID: ["The operator's backup key is not valid.", '운영자 백업 키가 올바르지 않습니다.'],
  BACKUP_TAMPERED: ['The backup failed its integrity check.', '백업의 무결성 검사가 실패했습니다.'],
  BACKUP_UNREADABLE: ['The backup cannot be read.', '백업을 읽을 수 없습니다.'],
  BACKUP_WRONG_KEY: ['The backup was encrypted to another key.', '다른 키로 암호화된 백업입니다.'],
  INVALID_BACKUP_RECIPIENT: ["The backup's recipient key is not valid.", '백업 수신자 키가 올바르지 않습니다.'],
  GATEWAY_RUNNING: ['Stop the gateway before restoring.', '복원하기 전에 게이트웨이를 멈춰 주세요.'],
  RESTORE_WOULD_OVERWRITE: ["Restoring would overwrite the gateway's state.", '복원하면 게이트웨이의 현재 상태를 덮어쓰게 됩니다.'],
  // ── research releases ──
  RELEASE_BELOW_K: ['The release would let patients be singled out (groups below k).', '공개하면 환자를 특정할 수 있습니다(k 미만 집단).'],
  RELEASE_EMPTY: ['No record of the release is left to release.', '공개할 수 있는 기록이 남아 있지 않습니다.'],
  RELEASE_NO_CONSENT: ['Records of the release lack consent for this purpose.', '공개 대상 기록 중 이 목적에 대한 동의가 없는 기록이 있습니다.'],
  RELEASE_SUPPRESSION_TOO_LARGE: ['Too many records would have to be left out.', '제외해야 할 기록이 너무 많습니다.'],
  RELEASE_HAS_DIRECT_IDENTIFIER: ['The release contains what looks like a direct identifier.', '공개 자료에 직접 식별자로 보이는 항목이 있습니다.'],
  RELEASE_NOT_CONFIRMED: ['The release was not confirmed on the ledger in time; nothing was released.', '공개 기록이 제시간에 원장에서 확인되지 않아 아무것도 공개되지 않았습니다.'],
  RELEASE_RECORD_RETRACTED: ['Records of the release are retracted.', '공개 대상 중 철회된 기록이 있습니다.'],
  INVALID_ATTRIBUTE: ['An attribute of a record has the wrong form.', '기록 속성의 형식이 잘못되었습니다.'],
  UNKNOWN_ATTRIBUTE: ['An attribute is read by no column of the release.', '공개 항목에 쓰이지 않는 속성입니다.'],
  INVALID_GENERALISATION: ['The generalisation rules are not valid.', '일반화 규칙이 올바르지 않습니다.'],
  UNKNOWN_PROFILE: ['There is no such release profile.', '해당 공개 프로필이 없습니다.'],
};

/** Why the ledger refused an access or a disclosure (a consent decision's reason), in both languages. */
const REASONS: Record<string, readonly [en: string, ko: string]> = {
  REVOKED: ['revoked', '철회됨'],
  EXPIRED: ['expired', '기간 만료'],
  NOT_YET_VALID: ['not yet valid', '아직 효력 없음'],
  OUT_OF_SCOPE: ['outside the records allowed', '허용 범위 밖의 기록'],
  WRONG_PURPOSE: ['another purpose', '다른 목적'],
  WRONG_GRANTEE: ['another organisation', '다른 기관'],
  NO_CONSENT: ['no consent', '동의 없음'],
};


/** The sentence for a gateway's error code in `lang`, or undefined for a code the pages do not know. */
export function errorSentence(code: string, lang: Lang): string | undefined {
  const s = SENTENCES[code];
  return s ? s[lang === 'ko' ? 1 : 0] : undefined;
}

/** A consent decision's reason (REVOKED, …) in `lang`; the code itself, lower-cased, if unknown. */
export function reasonText(reason: string, lang: Lang): string {
  const s = REASONS[reason];
  return s ? s[lang === 'ko' ? 1 : 0] : reason.toLowerCase().replace(/_/g, ' ');
}

/** Every code with sentences (for the catalogue's test). */
export const ERROR_CODES: readonly string[] = Object.keys(SENTENCES);
export const REASON_CODES: readonly string[] = Object.keys(REASONS);
