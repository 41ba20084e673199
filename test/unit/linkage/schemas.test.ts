import { expect } from 'chai';
import { validateBody } from '../../../gateway/src/http/validation';

/** The linkage routes' request schemas compile under the gateway's strict validator, accept what the services send and refuse with codes. */
describe('linkage: request schemas', function () {
  this.timeout(60_000);
  const token = 'a'.repeat(64);
  const element = Buffer.alloc(32, 7).toString('base64url');
  const good = {
    LinkageRequestBody: { projectId: 'trial-1', hospitals: ['HospitalMSP', 'Hospital2MSP'], quasiIdentifiers: ['ageBand', 'sex'], k: 2 },
    LinkageCohortBody: { cohort: [{ patientId: 'MRN-1', linkageId: '900101-1234567', quasiIdentifiers: { ageBand: '40-49', sex: 'F', n: 1, b: true, z: null }, data: { x: [1] } }] },
    LinkageEvaluateBody: { requestId: 'LR-1', blinded: [element] },
    LinkageEntriesBody: { entries: [{ token, quasiIdentifiers: { ageBand: '40-49' }, data: null }, { token, quasiIdentifiers: {} }] },
    LinkageRequestPath: { requestId: 'LR-0f.1:2_3' },
    LinkageListQuery: { projectId: 'trial-1' },
  } as const;

  for (const [name, body] of Object.entries(good)) {
    it(`${name}: accepts a valid body`, () => {
      expect(() => validateBody(name as Parameters<typeof validateBody>[0], body)).to.not.throw();
    });
  }

  it('refuses bad bodies with INVALID_REQUEST or UNKNOWN_FIELD', () => {
    const refused = (name: string, body: unknown) => {
      try {
        validateBody(name as Parameters<typeof validateBody>[0], body);
      } catch (err) {
        return (err as { code: string }).code;
      }
      return 'accepted';
    };
    expect(refused('LinkageRequestBody', { ...good.LinkageRequestBody, k: 1 })).to.equal('INVALID_REQUEST');
    expect(refused('LinkageRequestBody', { ...good.LinkageRequestBody, hospitals: ['HospitalMSP'] })).to.equal('INVALID_REQUEST');
    expect(refused('LinkageRequestBody', { ...good.LinkageRequestBody, tokens: [] })).to.equal('UNKNOWN_FIELD');
    expect(refused('LinkageCohortBody', { cohort: [{ patientId: 'x', linkageId: 'y', quasiIdentifiers: { a: { nested: 1 } } }] })).to.equal('INVALID_REQUEST');
    expect(refused('LinkageEvaluateBody', { requestId: 'LR-1', blinded: ['short'] })).to.equal('INVALID_REQUEST');
    expect(refused('LinkageEntriesBody', { entries: [{ token: 'A'.repeat(64), quasiIdentifiers: {} }] })).to.equal('INVALID_REQUEST');
    expect(refused('LinkageEntriesBody', { entries: [{ token, quasiIdentifiers: {}, patientRef: 'p' }] })).to.equal('UNKNOWN_FIELD');
    expect(refused('LinkageRequestPath', { requestId: '../etc' })).to.equal('INVALID_REQUEST');
  });
});
