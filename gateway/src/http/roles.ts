/** What a gateway user is, in the organisation's own words. */
export const ROLES = ['records-officer', 'claims-officer', 'research-officer', 'dpo', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Which roles may use which operation: the gateway's one authorisation table. */
export const OPERATION_ROLES = {
  whoami: ROLES,
  hashDocument: ROLES,
  anchorRecord: ['records-officer'],
  anchorBatch: ['records-officer'],
  amendRecord: ['records-officer'],
  retractRecord: ['records-officer'],
  readRecord: ['records-officer', 'claims-officer', 'research-officer', 'admin'],
  verifyDocument: ROLES,
} as const satisfies Record<string, readonly Role[]>;
export type Operation = keyof typeof OPERATION_ROLES;

/** Operations only a hospital's gateway offers: the ledger would refuse them from anyone else. */
export const HOSPITAL_ONLY: readonly Operation[] = ['anchorRecord', 'anchorBatch', 'amendRecord', 'retractRecord'];
