import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { churnFeatures, type HistoryRow } from './history.ts';

const day = (n: number) => new Date(Date.UTC(2026, 0, 1 + n));

describe('churn features from history', () => {
  it('a first-time successful customer has one payment and no gap', () => {
    assert.deepEqual(churnFeatures([], { outcome: 'succeeded', at: day(0) }), {
      total_payments: 1,
      successful_payments: 1,
      failed_payments: 0,
      recovered_payments: 0,
      days_since_last_payment: 0,
      consecutive_failures: 0,
      days_since_last_failure: null,
    });
  });

  it('counts the failure streak, the gap since the last success and recoveries', () => {
    const history: HistoryRow[] = [
      { outcome: 'failed', at: day(40) },
      { outcome: 'failed', at: day(35) },
      { outcome: 'succeeded', at: day(10) },
      { outcome: 'failed', at: day(9) },
      { outcome: 'succeeded', at: day(1) },
    ];
    const f = churnFeatures(history, { outcome: 'failed', at: day(50) });
    assert.equal(f.total_payments, 6);
    assert.equal(f.failed_payments, 4);
    assert.equal(f.consecutive_failures, 3);
    assert.equal(f.days_since_last_payment, 40);
    assert.equal(f.days_since_last_failure, 0);
    assert.equal(f.recovered_payments, 1);
  });

  it('a success ends the streak', () => {
    const f = churnFeatures([{ outcome: 'failed', at: day(3) }], { outcome: 'succeeded', at: day(4) });
    assert.equal(f.consecutive_failures, 0);
    assert.equal(f.recovered_payments, 1);
    assert.equal(f.days_since_last_failure, 1);
  });
});
