import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  churnFeatures,
  churnFeaturesFromSummary,
  concatSummaries,
  EMPTY_HISTORY,
  type HistoryRow,
  summarizeHistory,
} from './history.ts';

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

describe('history summaries', () => {
  // Deterministic pseudo-random histories (xorshift), including undated rows and 'other' rows.
  let state = 0x9e3779b9;
  const rand = (n: number) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
  const outcomes = ['succeeded', 'failed', 'other'] as const;
  const randomHistory = (): HistoryRow[] => {
    const n = rand(12);
    const rows: HistoryRow[] = [];
    let t = 400;
    for (let i = 0; i < n; i++) {
      t -= rand(30);
      rows.push({ outcome: outcomes[rand(3)] as HistoryRow['outcome'], at: rand(8) === 0 ? null : day(t) });
    }
    // Undated rows sort last (NULLS LAST), as the database returns them.
    return [...rows.filter((r) => r.at), ...rows.filter((r) => !r.at)];
  };

  it('give the same features as the rows, split anywhere', () => {
    for (let k = 0; k < 2000; k++) {
      const h = randomHistory();
      const current = { outcome: outcomes[rand(3)] as HistoryRow['outcome'], at: day(400 + rand(50)) };
      const expected = churnFeatures(h, current);
      assert.deepEqual(churnFeaturesFromSummary(summarizeHistory(h), current), expected);
      const cut = rand(h.length + 1);
      const joined = concatSummaries(summarizeHistory(h.slice(0, cut)), summarizeHistory(h.slice(cut)));
      assert.deepEqual(churnFeaturesFromSummary(joined, current), expected, `split at ${cut} of ${h.length}`);
    }
  });

  it('an empty history is a first payment', () => {
    assert.deepEqual(
      churnFeaturesFromSummary(EMPTY_HISTORY, { outcome: 'failed', at: day(3) }),
      churnFeatures([], { outcome: 'failed', at: day(3) }),
    );
  });
});
