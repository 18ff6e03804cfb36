import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  churnRiskLevel,
  fraudRiskLevel,
  majorAmount,
  predictChurn,
  RULES_MODEL_VERSION,
  recommendRecovery,
  retryStrategy,
  scoreFraud,
} from './rules.ts';

const NOW = new Date('2026-11-26T12:00:00Z');
const quietChurn = {
  customer_id: 'cus_1',
  total_payments: 10,
  successful_payments: 10,
  failed_payments: 0,
  recovered_payments: 0,
  days_since_last_payment: 2,
  consecutive_failures: 0,
  days_since_last_failure: null,
};
const recoveryBase = {
  event_id: 'e1',
  customer_id: 'cus_1',
  amount_minor: 5000,
  currency: 'USD',
  attempt_number: 1,
  max_attempts: 5,
  hours_since_first_failure: 0,
  customer_lifetime_value_minor: 0,
  has_valid_email: true,
  has_valid_phone: false,
  has_backup_payment_method: false,
};

describe('fraud rules-v1', () => {
  it('scores a small known-customer payment low with no factors', () => {
    const r = scoreFraud({ event_id: 'e', amount_minor: 2000, currency: 'USD', customer_id: 'c', merchant_id: 'm' });
    assert.deepEqual(r.risk_factors, []);
    assert.equal(r.fraud_score, 0.05);
    assert.equal(r.risk_level, 'low');
    assert.equal(r.model_version, RULES_MODEL_VERSION);
  });

  it('reaches every risk level', () => {
    const levels = new Set(
      [
        { amount_minor: 100, customer_id: 'c', merchant_id: 'm' },
        { amount_minor: 150_000, customer_id: 'c', merchant_id: 'm' },
        { amount_minor: 2_000_000, customer_id: null, merchant_id: null, card_brand: 'unknown' },
      ].map((x) => scoreFraud({ event_id: 'e', currency: 'USD', ...x }).risk_level),
    );
    assert.deepEqual([...levels].sort(), ['high', 'low', 'medium']);
  });

  it('reads amounts in the currency minor unit (JPY has none)', () => {
    assert.equal(majorAmount(150_000, 'JPY'), 150_000);
    assert.equal(majorAmount(1_500, 'KWD'), 1.5);
    const yen = scoreFraud({
      event_id: 'e',
      amount_minor: 80_000,
      currency: 'JPY',
      customer_id: 'c',
      merchant_id: 'm',
    });
    assert.deepEqual(yen.risk_factors, ['extreme_amount']);
  });

  it('is reproducible: the same input gives the same score', () => {
    const a = scoreFraud({ event_id: 'x1', amount_minor: 60_000, currency: 'EUR' });
    const b = scoreFraud({ event_id: 'x1', amount_minor: 60_000, currency: 'EUR' });
    assert.deepEqual(a, b);
  });

  it('uses the reference thresholds 0.3 and 0.7', () => {
    assert.equal(fraudRiskLevel(0.29), 'low');
    assert.equal(fraudRiskLevel(0.3), 'medium');
    assert.equal(fraudRiskLevel(0.7), 'high');
  });

  it("a model's own alert threshold decides high; medium starts at half of it (at most 0.3)", () => {
    assert.equal(fraudRiskLevel(0.12, 0.12), 'high');
    assert.equal(fraudRiskLevel(0.11, 0.12), 'medium');
    assert.equal(fraudRiskLevel(0.05, 0.12), 'low');
    assert.equal(fraudRiskLevel(0.69, 0.9), 'medium');
  });

  describe('behaviour rules over the online features', () => {
    const pay = { event_id: 'e', amount_minor: 150, currency: 'USD', customer_id: 'c', merchant_id: 'm' };
    const quiet = {
      customer: {
        txn_count_10m: 1,
        decline_count_10m: 0,
        distinct_merchants_1h: 1,
        txn_count_30d: 6,
        amount_to_avg_ratio_30d: 1.1,
      },
      payment_method: { txn_count_10m: 1, decline_count_10m: 0 },
    };
    it('an ordinary payment of a known customer stays low, as without features', () => {
      assert.equal(scoreFraud(pay, quiet).fraud_score, scoreFraud(pay).fraud_score);
      assert.equal(scoreFraud(pay, quiet).model_version, 'rules-v2');
      assert.equal(scoreFraud(pay).model_version, 'rules-v1');
      assert.equal(scoreFraud(pay, { customer: null, payment_method: null }).fraud_score, 0.05);
    });
    it('card testing: a card tried 5 times in 10 min with 3 declines alerts', () => {
      const r = scoreFraud(pay, {
        customer: quiet.customer,
        payment_method: { txn_count_10m: 5, decline_count_10m: 3 },
      });
      assert.equal(r.risk_level, 'high');
      assert.deepEqual(r.risk_factors, ['velocity_10m', 'recent_declines']);
    });
    it('a velocity spike across merchants alerts; two payments in 10 min alone do not', () => {
      const spike = { ...quiet.customer, txn_count_10m: 4, distinct_merchants_1h: 3 };
      assert.equal(scoreFraud(pay, { customer: spike, payment_method: null }).risk_level, 'high');
      const two = { ...quiet.customer, txn_count_10m: 2 };
      assert.equal(scoreFraud(pay, { customer: two, payment_method: null }).risk_level, 'low');
    });
    it("an amount 8x the customer's 30-day average alerts; the first payment of a customer has no history to compare", () => {
      const big = { ...quiet.customer, amount_to_avg_ratio_30d: 9 };
      const r = scoreFraud(pay, { customer: big, payment_method: null });
      assert.equal(r.risk_level, 'high');
      assert.ok(r.risk_factors.includes('amount_above_customer_history'));
      const first = { ...big, txn_count_30d: 1 };
      assert.equal(scoreFraud(pay, { customer: first, payment_method: null }).risk_level, 'low');
    });
    it('non-finite or missing values count as 0', () => {
      const odd = { txn_count_10m: Number.NaN, amount_to_avg_ratio_30d: Number.POSITIVE_INFINITY, txn_count_30d: 5 };
      assert.equal(scoreFraud(pay, { customer: odd, payment_method: {} }).fraud_score, 0.05);
    });
  });
});

describe('churn rules-v1', () => {
  it('gives a healthy customer low risk and no horizon', () => {
    const r = predictChurn(quietChurn, NOW);
    assert.equal(r.risk_level, 'low');
    assert.equal(r.days_to_churn_estimate, null);
    assert.equal(r.predicted_at, NOW.toISOString());
  });

  it('reaches every risk level, critical included', () => {
    const cases = [
      quietChurn,
      { ...quietChurn, consecutive_failures: 1, failed_payments: 1, days_since_last_payment: 40 },
      { ...quietChurn, consecutive_failures: 3, failed_payments: 3 },
      { ...quietChurn, consecutive_failures: 4, failed_payments: 6, days_since_last_payment: 90 },
    ];
    assert.deepEqual(
      cases.map((c) => predictChurn(c, NOW).risk_level),
      ['low', 'medium', 'high', 'critical'],
    );
  });

  it('estimates days to churn for risky customers', () => {
    const r = predictChurn(
      { ...quietChurn, consecutive_failures: 4, failed_payments: 6, days_since_last_payment: 90 },
      NOW,
    );
    assert.equal(r.churn_probability, 0.9);
    assert.equal(r.days_to_churn_estimate, 12);
    assert.ok(r.recommended_actions.includes('immediate_customer_outreach'));
  });

  it('uses the reference thresholds', () => {
    assert.deepEqual([0.24, 0.25, 0.49, 0.5, 0.74, 0.75].map(churnRiskLevel), [
      'low',
      'medium',
      'medium',
      'high',
      'high',
      'critical',
    ]);
  });
});

describe('retry strategy table', () => {
  it('never retries hard declines', () => {
    for (const code of ['card_declined', 'fraudulent', 'Stolen Card']) {
      const r = retryStrategy({ event_id: 'e', failure_code: code, amount_minor: 100, attempt_count: 1 });
      assert.equal(r.action, 'do_not_retry');
      assert.equal(r.delay_seconds, null);
      assert.ok(r.confidence >= 0.9);
    }
  });

  it('asks the customer to act on insufficient funds', () => {
    const r = retryStrategy({ event_id: 'e', failure_code: 'insufficient_funds', amount_minor: 100, attempt_count: 1 });
    assert.equal(r.action, 'contact_customer');
  });

  it('backs off exponentially for transient codes and stops at the maximum', () => {
    const delays = [1, 2, 3, 4].map(
      (a) =>
        retryStrategy({ event_id: 'e', failure_code: 'try_again_later', amount_minor: 1, attempt_count: a })
          .delay_seconds,
    );
    assert.deepEqual(delays, [60, 120, 240, 480]);
    const last = retryStrategy({ event_id: 'e', failure_code: 'try_again_later', amount_minor: 1, attempt_count: 5 });
    assert.equal(last.action, 'do_not_retry');
    assert.match(last.reason, /Maximum/);
  });

  it('treats an empty code as transient and unknown codes linearly, capped at an hour', () => {
    assert.equal(
      retryStrategy({ event_id: 'e', failure_code: null, amount_minor: 1, attempt_count: 2 }).delay_seconds,
      120,
    );
    assert.equal(
      retryStrategy({ event_id: 'e', failure_code: 'weird', amount_minor: 1, attempt_count: 3 }).delay_seconds,
      360,
    );
  });
});

describe('recovery plan', () => {
  it('never gives a negative expected success rate, even after many attempts', () => {
    for (let attempt = 1; attempt <= 20; attempt++) {
      const r = recommendRecovery({ ...recoveryBase, failure_code: 'processing_error', attempt_number: attempt }, NOW);
      for (const s of r.recovery_plan) assert.ok(s.expected_success_rate >= 0 && s.expected_success_rate <= 1);
    }
    const r7 = recommendRecovery({ ...recoveryBase, failure_code: 'processing_error', attempt_number: 7 }, NOW);
    assert.equal(r7.recovery_plan[0]?.expected_success_rate, 0.05);
  });

  it('asks for a new card when the card has expired', () => {
    const r = recommendRecovery({ ...recoveryBase, card_exp_month: 1, card_exp_year: 2020 }, NOW);
    assert.equal(r.primary_action, 'update_payment_method');
    assert.deepEqual(
      r.recovery_plan.map((s) => s.action),
      ['update_payment_method', 'dunning_email'],
    );
  });

  it('offers the backup method first on insufficient funds, retrying at 9 UTC', () => {
    const r = recommendRecovery(
      { ...recoveryBase, failure_code: 'insufficient_funds', has_backup_payment_method: true },
      NOW,
    );
    assert.equal(r.recovery_plan[0]?.action, 'offer_alternative');
    assert.equal(r.optimal_retry_hour_utc, 9);
  });

  it('marks high-value customers urgent and reaches low priority for tiny amounts', () => {
    assert.equal(
      recommendRecovery({ ...recoveryBase, customer_lifetime_value_minor: 20_000_000 }, NOW).priority,
      'urgent',
    );
    assert.equal(recommendRecovery({ ...recoveryBase, amount_minor: 500 }, NOW).priority, 'low');
  });

  it('is reproducible for a fixed clock', () => {
    const input = { ...recoveryBase, failure_code: 'timeout', attempt_number: 3 };
    assert.deepEqual(recommendRecovery(input, NOW), recommendRecovery(input, NOW));
  });
});
