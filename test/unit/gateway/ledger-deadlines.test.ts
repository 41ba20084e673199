import { expect } from 'chai';
import { submitterOptionsFromEnv } from '../../../gateway/src/acceptance';
import { DEFAULT_DEADLINES, callDeadlines, ledgerDeadlinesFromEnv } from '../../../gateway/src/fabric/client';

describe('gateway: ledger deadlines and submitter settings', () => {
  it('the endorsement deadline grows with the arguments, from 15 s to at most 35 s; ordering a little', () => {
    expect(callDeadlines(DEFAULT_DEADLINES, 200)).to.deep.equal({ endorseMs: 15_012, submitMs: 5_002 }); // one anchor: ~200 bytes
    // About 1,000 anchors: ~200 KiB of arguments.
    const batch = callDeadlines(DEFAULT_DEADLINES, 200 * 1024);
    expect(batch.endorseMs).to.equal(15_000 + 60 * 200);
    expect(batch.submitMs).to.equal(5_000 + 10 * 200);
    expect(callDeadlines(DEFAULT_DEADLINES, 10 * 1024 * 1024).endorseMs).to.equal(35_000);
    expect(callDeadlines({ ...DEFAULT_DEADLINES, endorseMs: 40_000 }, 0).endorseMs).to.equal(40_000); // never below the base
  });

  it('reads deadlines and submitter settings from the environment, naming a bad variable', () => {
    expect(ledgerDeadlinesFromEnv({})).to.deep.equal({});
    expect(ledgerDeadlinesFromEnv({ MEDPROV_LEDGER_ENDORSE_TIMEOUT_MS: '20000', MEDPROV_LEDGER_COMMIT_TIMEOUT_MS: '30000', MEDPROV_LEDGER_SUBMIT_TIMEOUT_MS: '' })).to.deep.equal({ endorseMs: 20_000, commitStatusMs: 30_000 });
    expect(() => ledgerDeadlinesFromEnv({ MEDPROV_LEDGER_ENDORSE_MS_PER_KIB: '1.5' })).to.throw(/MEDPROV_LEDGER_ENDORSE_MS_PER_KIB/);

    expect(submitterOptionsFromEnv({})).to.deep.equal({});
    expect(submitterOptionsFromEnv({ MEDPROV_SUBMIT_CONCURRENCY: '4', MEDPROV_ANCHOR_MAX_BATCH: '1', MEDPROV_SUBMIT_MAX_RECORDS_IN_FLIGHT: '5000' })).to.deep.equal({ concurrency: 4, maxBatch: 1, maxRecordsInFlight: 5000 });
    expect(() => submitterOptionsFromEnv({ MEDPROV_ANCHOR_MAX_BATCH: '1001' })).to.throw(/MEDPROV_ANCHOR_MAX_BATCH must be a whole number from 1 to 1000/);
    expect(() => submitterOptionsFromEnv({ MEDPROV_SUBMIT_CONCURRENCY: '0' })).to.throw(/MEDPROV_SUBMIT_CONCURRENCY/);
    expect(() => submitterOptionsFromEnv({ MEDPROV_SUBMIT_CONCURRENCY: 'eight' })).to.throw(/MEDPROV_SUBMIT_CONCURRENCY/);
  });
});
