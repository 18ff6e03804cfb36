/**
 * Rule scorers of the inference service (model_version "rules-v1"): fraud score, churn risk, retry strategy and
 * recovery plan as explicit, deterministic rule tables (reference section 4.2 with its bugs fixed: every risk level is
 * reachable, no random noise or sleeps, no negative rates, `now` injected so results are reproducible). They stand in
 * until the ML issue replaces fraud and churn with trained models; retry and recovery stay rule tables by design.
 * Pure functions only: no I/O, no clock reads.
 */

import {
  type ChurnInput,
  type ChurnPrediction,
  type ChurnRiskLevel,
  currencyExponent,
  type FraudInput,
  type FraudRiskLevel,
  type FraudScore,
  type RecoveryActionName,
  type RecoveryInput,
  type RecoveryPlan,
  type RecoveryStep,
  type RetryAction,
  type RetryInput,
  type RetryStrategy,
} from '@pep/contracts';

// The request and response shapes of the inference API live in @pep/contracts (inference.ts).
export type {
  ChurnInput,
  ChurnPrediction,
  ChurnRiskLevel,
  FraudInput,
  FraudRiskLevel,
  FraudScore,
  RecoveryActionName,
  RecoveryInput,
  RecoveryPlan,
  RecoveryStep,
  RetryAction,
  RetryInput,
  RetryStrategy,
};

export const RULES_MODEL_VERSION = 'rules-v1';
/**
 * The fraud rule table with the behaviour rules over online features (`scoreFraud` given features): what serving
 * answers when it read the event's features and has no model. rules-v1 (request fields only) stays the baseline that
 * training evaluates beside the model (issue #18's `fraud_auc_model_minus_rules`) and that answers without features.
 */
export const FRAUD_RULES_WITH_FEATURES_VERSION = 'rules-v2';

// ---------------------------------------------------------------------------------------------------------------
// money

/** Minor-unit exponent of a currency (ISO 4217; 2 for a code the table does not know). */
export function minorUnitExponent(currency: string): number {
  return currencyExponent(currency) ?? 2;
}

/** Amount in major units (e.g. dollars, yen) from integer minor units; only used for thresholds, never for money math. */
export function majorAmount(amountMinor: number, currency: string): number {
  return amountMinor / 10 ** minorUnitExponent(currency);
}

/** Rounds to 4 decimals and clamps to [0, 1]. */
function score4(x: number): number {
  return Math.min(1, Math.max(0, Math.round(x * 10_000) / 10_000));
}

// ---------------------------------------------------------------------------------------------------------------
// fraud

/** Fraud thresholds in major units of the event's currency (no FX conversion: a rule table, not a model). */
export const FRAUD_AMOUNT_MAJOR = { extreme: 10_000, veryHigh: 1_000, high: 500 } as const;

/**
 * The fraud alert threshold of rules-v1: a score at or above it is risk level `high`, which is what raises an alert
 * (workflows' fraud review, dbt's `fraud_alerts`, whose `fraud_alert_score` var is the same 0.7). A trained model
 * carries its own threshold, chosen on its evaluation window (ml/README.md, "Fraud alert threshold").
 */
export const FRAUD_ALERT_THRESHOLD = 0.7;

export function fraudRiskLevel(score: number, alertThreshold = FRAUD_ALERT_THRESHOLD): FraudRiskLevel {
  if (score >= alertThreshold) return 'high';
  if (score >= Math.min(0.3, alertThreshold / 2)) return 'medium';
  return 'low';
}

/**
 * The online feature records rules-v1 reads when serving has them (the same Feast rows the model reads; names as in
 * feature_spec.json, without the entity prefix). Null: no record (unknown entity, Redis down): those rules are off.
 */
export interface FraudFeatures {
  readonly customer: Readonly<Record<string, number>> | null;
  readonly payment_method: Readonly<Record<string, number>> | null;
}

/**
 * Behaviour rules over the online features (rules-v2). The request fields alone cannot see the patterns fraud takes
 * (simulated and real): a card tested with small amounts, a burst of payments, an amount far above the customer's
 * own history; rules-v1 scores them all 0.05 (no alert at 0.7: recall 0 on simulated traffic).
 * Each entity's counts include the event being scored (the row after it is applied; one less when it is stale).
 *   velocity: attempts in 10 min by the customer or the card ≥ 4 +0.65, = 3 +0.45, = 2 +0.20
 *   declines in 10 min (customer or card) ≥ 2 +0.40, = 1 +0.10   (card testing: mostly declined probes)
 *   distinct merchants in 1 h ≥ 3 +0.20
 *   amount against the customer's 30-day average (≥ 2 payments): ≥ 8x +0.65, ≥ 4x +0.30
 */
function behaviourRules(f: FraudFeatures, factors: string[]): number {
  const c = f.customer ?? {};
  const pm = f.payment_method ?? {};
  const n = (r: Readonly<Record<string, number>>, k: string) => {
    const v = r[k];
    return typeof v === 'number' && Number.isFinite(v) ? v : 0;
  };
  let add = 0;
  const attempts = Math.max(n(c, 'txn_count_10m'), n(pm, 'txn_count_10m'));
  if (attempts >= 4) add += 0.65;
  else if (attempts >= 3) add += 0.45;
  else if (attempts >= 2) add += 0.2;
  if (attempts >= 2) factors.push('velocity_10m');
  const declines = Math.max(n(c, 'decline_count_10m'), n(pm, 'decline_count_10m'));
  if (declines >= 2) add += 0.4;
  else if (declines >= 1) add += 0.1;
  if (declines >= 1) factors.push('recent_declines');
  if (n(c, 'distinct_merchants_1h') >= 3) {
    add += 0.2;
    factors.push('many_merchants_1h');
  }
  if (n(c, 'txn_count_30d') >= 2) {
    const ratio = n(c, 'amount_to_avg_ratio_30d');
    if (ratio >= 8) add += 0.65;
    else if (ratio >= 4) add += 0.3;
    if (ratio >= 4) factors.push('amount_above_customer_history');
  }
  return add;
}

/**
 * rules-v1: base 0.05; amount tier (extreme +0.45 / very high +0.25 / high +0.15); guest checkout +0.15; unknown card
 * brand +0.10; no merchant +0.05. rules-v2 (`features` given, even with no record for the event's entities): rules-v1
 * plus the behaviour rules above. Clamped to [0, 1]. `high` (an alert) is reachable from the request alone (an extreme
 * amount by a guest) and from behaviour.
 */
export function scoreFraud(input: FraudInput, features: FraudFeatures | null = null): FraudScore {
  const factors: string[] = [];
  let score = 0.05;
  const major = majorAmount(input.amount_minor, input.currency);
  if (major > FRAUD_AMOUNT_MAJOR.extreme) {
    score += 0.45;
    factors.push('extreme_amount');
  } else if (major > FRAUD_AMOUNT_MAJOR.veryHigh) {
    score += 0.25;
    factors.push('very_high_amount');
  } else if (major > FRAUD_AMOUNT_MAJOR.high) {
    score += 0.15;
    factors.push('high_amount');
  }
  if (!input.customer_id) {
    score += 0.15;
    factors.push('guest_checkout');
  }
  const brand = input.card_brand?.toLowerCase();
  if (brand === 'unknown' || brand === 'other') {
    score += 0.1;
    factors.push('unknown_card_brand');
  }
  if (!input.merchant_id) {
    score += 0.05;
    factors.push('unknown_merchant');
  }
  if (features) score += behaviourRules(features, factors);
  const s = score4(score);
  return {
    event_id: input.event_id,
    fraud_score: s,
    risk_level: fraudRiskLevel(s),
    risk_factors: factors,
    model_version: features ? FRAUD_RULES_WITH_FEATURES_VERSION : RULES_MODEL_VERSION,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// churn

export function churnRiskLevel(p: number): ChurnRiskLevel {
  if (p >= 0.75) return 'critical';
  if (p >= 0.5) return 'high';
  if (p >= 0.25) return 'medium';
  return 'low';
}

/**
 * base 0.05; consecutive failures (≥3 +0.40, ≥1 +0.15); failure rate over the history (>50% +0.20, >20% +0.10, only
 * with ≥3 payments); payment gap (>60 d +0.25, >30 d +0.15); failures never recovered −0 / recovered all −0.05.
 * Max 0.90, so `critical` is reachable. days_to_churn_estimate is computed for medium risk and above.
 */
export function predictChurn(input: ChurnInput, now: Date): ChurnPrediction {
  const factors: string[] = [];
  const actions: string[] = [];
  let p = 0.05;
  if (input.consecutive_failures >= 3) {
    p += 0.4;
    factors.push('multiple_consecutive_failures');
    actions.push('immediate_customer_outreach');
  } else if (input.consecutive_failures >= 1) {
    p += 0.15;
    factors.push('recent_failure');
    actions.push('send_payment_update_reminder');
  }
  if (input.total_payments >= 3) {
    const failureRate = input.failed_payments / input.total_payments;
    if (failureRate > 0.5) {
      p += 0.2;
      factors.push('high_failure_rate');
      actions.push('review_payment_methods');
    } else if (failureRate > 0.2) {
      p += 0.1;
      factors.push('elevated_failure_rate');
    }
  }
  if (input.days_since_last_payment > 60) {
    p += 0.25;
    factors.push('long_payment_gap');
    actions.push('win_back_campaign');
  } else if (input.days_since_last_payment > 30) {
    p += 0.15;
    factors.push('payment_gap');
    actions.push('engagement_campaign');
  }
  if (input.failed_payments > 0 && input.recovered_payments >= input.failed_payments) {
    p -= 0.05;
    factors.push('failures_recovered');
  }
  const prob = score4(p);
  const level = churnRiskLevel(prob);
  return {
    customer_id: input.customer_id,
    churn_probability: prob,
    risk_level: level,
    risk_factors: factors,
    recommended_actions: actions,
    // A rule-of-thumb horizon: the higher the risk, the sooner (120 days at p=0, 12 days at p=0.9).
    days_to_churn_estimate: level === 'low' ? null : Math.max(1, Math.round(120 * (1 - prob))),
    model_version: RULES_MODEL_VERSION,
    predicted_at: now.toISOString(),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// retry strategy

export const RETRY_MAX_ATTEMPTS = 5;
export const RETRY_MAX_DELAY_SECONDS = 3600;

export const NON_RETRYABLE_CODES: ReadonlySet<string> = new Set([
  'card_declined',
  'expired_card',
  'fraudulent',
  'stolen_card',
  'lost_card',
  'card_not_supported',
  'currency_not_supported',
  'do_not_honor',
  'generic_decline',
  'invalid_account',
  'invalid_amount',
  'invalid_card_number',
  'pickup_card',
  'restricted_card',
  'security_violation',
]);
export const CUSTOMER_ACTION_CODES: ReadonlySet<string> = new Set([
  'insufficient_funds',
  'withdrawal_count_limit_exceeded',
  'card_velocity_exceeded',
  'authentication_required',
  'approve_with_id',
]);
export const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'processing_error',
  'issuer_not_available',
  'try_again_later',
  'reenter_transaction',
  'network_error',
  'timeout',
]);

/** Lowercases and replaces whitespace runs with `_` ("Insufficient Funds" → "insufficient_funds"). */
export function normalizeFailureCode(code: string | null | undefined): string {
  return (code ?? '').trim().toLowerCase().replace(/\s+/g, '_');
}

/** Reference 4.2 decision order, deterministic (no random sleep). */
export function retryStrategy(input: RetryInput): RetryStrategy {
  const code = normalizeFailureCode(input.failure_code);
  const attempt = Math.max(1, Math.trunc(input.attempt_count));
  const base = { event_id: input.event_id, max_attempts: RETRY_MAX_ATTEMPTS, model_version: RULES_MODEL_VERSION };
  if (NON_RETRYABLE_CODES.has(code)) {
    return {
      ...base,
      action: 'do_not_retry',
      delay_seconds: null,
      confidence: 0.95,
      reason: `Failure code '${code}' is not retryable`,
    };
  }
  if (CUSTOMER_ACTION_CODES.has(code)) {
    return {
      ...base,
      action: 'contact_customer',
      delay_seconds: null,
      confidence: 0.9,
      reason: `Failure code '${code}' needs customer action`,
    };
  }
  if (attempt >= RETRY_MAX_ATTEMPTS) {
    return {
      ...base,
      action: 'do_not_retry',
      delay_seconds: null,
      confidence: 0.85,
      reason: `Maximum attempts (${RETRY_MAX_ATTEMPTS}) reached`,
    };
  }
  if (code === '' || TRANSIENT_CODES.has(code)) {
    const delay = Math.min(60 * 2 ** (attempt - 1), RETRY_MAX_DELAY_SECONDS);
    return {
      ...base,
      action: 'retry_delayed',
      delay_seconds: delay,
      confidence: 0.75,
      reason: code ? `Transient failure '${code}'` : 'No failure code: treated as transient',
    };
  }
  return {
    ...base,
    action: 'retry_delayed',
    delay_seconds: Math.min(120 * attempt, RETRY_MAX_DELAY_SECONDS),
    confidence: 0.6,
    reason: `Unknown failure code '${code}': linear backoff`,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// recovery plan

/** Lifetime value above which a customer is urgent: 10,000,000 minor units (100,000.00 in a 2-decimal currency). */
export const URGENT_LTV_MINOR = 10_000_000;
const HARD_DECLINES = new Set([
  'expired_card',
  'invalid_card_number',
  'card_declined',
  'lost_card',
  'stolen_card',
  'pickup_card',
]);
const TRANSIENT_RECOVERY = new Set([
  'processing_error',
  'issuer_not_available',
  'try_again_later',
  'network_error',
  'timeout',
]);
const FUNDS_CODES = new Set([
  'insufficient_funds',
  'withdrawal_count_limit_exceeded',
  'card_velocity_exceeded',
  'authentication_required',
]);
/** Floor of a retry's expected success rate: later attempts get less likely, never negative (the original went < 0). */
const MIN_TRANSIENT_RATE_PCT = 5;

function step(action: RecoveryActionName, delayHours: number, reason: string, ratePct: number): RecoveryStep {
  // Rates are held as integer percents so that 0.70 − 0.10 × n never drifts below zero through float rounding.
  return { action, delay_hours: delayHours, reason, expected_success_rate: Math.min(100, Math.max(0, ratePct)) / 100 };
}

export function recommendRecovery(input: RecoveryInput, now: Date): RecoveryPlan {
  const code = normalizeFailureCode(input.failure_code);
  const attempt = Math.max(1, Math.trunc(input.attempt_number));
  const insights: string[] = [];
  let priority: RecoveryPlan['priority'] = 'medium';
  if (input.customer_lifetime_value_minor > URGENT_LTV_MINOR) {
    priority = 'urgent';
    insights.push('High-value customer: prioritise recovery');
  } else if (input.subscription_tier === 'enterprise' || input.subscription_tier === 'pro' || attempt >= 3) {
    priority = 'high';
  } else if (input.amount_minor === 0 || majorAmount(input.amount_minor, input.currency) < 10) {
    priority = 'low';
  }

  const plan: RecoveryStep[] = [];
  let primary: RecoveryActionName;
  let probabilityPct: number;
  const expired =
    input.card_exp_month != null &&
    input.card_exp_year != null &&
    (input.card_exp_year < now.getUTCFullYear() ||
      (input.card_exp_year === now.getUTCFullYear() && input.card_exp_month < now.getUTCMonth() + 1));
  if (expired) {
    plan.push(step('update_payment_method', 0, 'Card on file has expired', 0));
    if (input.has_valid_email) plan.push(step('dunning_email', 0.5, 'Ask the customer to update the card', 35));
    if (input.has_valid_phone) plan.push(step('sms_reminder', 24, 'Second reminder by SMS', 25));
    primary = 'update_payment_method';
    probabilityPct = 35;
    insights.push('Card expired: retrying cannot succeed');
  } else if (HARD_DECLINES.has(code)) {
    plan.push(step('dunning_email', 0, `Hard decline '${code}': the customer must act`, 30));
    if (input.has_backup_payment_method)
      plan.unshift(step('offer_alternative', 0, 'A backup payment method exists', 65));
    primary = 'update_payment_method';
    probabilityPct = input.has_backup_payment_method ? 65 : 30;
  } else if (TRANSIENT_RECOVERY.has(code)) {
    const delay = Math.min(2 ** (attempt - 1), 24);
    plan.push(
      step(
        'retry_optimal_time',
        delay,
        `Transient failure '${code}'`,
        Math.max(MIN_TRANSIENT_RATE_PCT, 70 - 10 * attempt),
      ),
    );
    if (attempt >= 3) plan.push(step('dunning_email', delay + 24, 'Repeated transient failures', 20));
    primary = 'retry_optimal_time';
    probabilityPct = 70;
    insights.push('transient failure: a later retry usually succeeds');
  } else if (FUNDS_CODES.has(code)) {
    plan.push(step('retry_optimal_time', 24, `Customer-side limit '${code}': retry after funds settle`, 45));
    if (input.has_valid_email) plan.push(step('dunning_email', 48, 'Remind the customer', 30));
    if (input.has_backup_payment_method)
      plan.unshift(step('offer_alternative', 0, 'A backup payment method exists', 55));
    primary = input.has_backup_payment_method ? 'offer_alternative' : 'retry_optimal_time';
    probabilityPct = input.has_backup_payment_method ? 55 : 45;
  } else {
    plan.push(step('retry_optimal_time', 4, code ? `Unclassified failure '${code}'` : 'No failure code', 50));
    plan.push(step('dunning_email', 24, 'Inform the customer', 25));
    if (attempt >= input.max_attempts - 1) plan.push(step('escalate_to_support', 48, 'Attempts nearly exhausted', 15));
    primary = 'retry_optimal_time';
    probabilityPct = 50;
  }
  let hour = 10;
  if (code.includes('insufficient_funds')) hour = 9;
  else if (majorAmount(input.amount_minor, input.currency) > 50_000) hour = 14;
  let confidencePct = 60;
  if (code) confidencePct += 15;
  if (input.customer_lifetime_value_minor > 0) confidencePct += 10;
  if (input.has_valid_email || input.has_valid_phone) confidencePct += 10;
  return {
    event_id: input.event_id,
    customer_id: input.customer_id,
    priority,
    primary_action: primary,
    recovery_plan: plan,
    optimal_retry_hour_utc: hour,
    estimated_recovery_probability: probabilityPct / 100,
    confidence: Math.min(95, confidencePct) / 100,
    insights,
    model_version: RULES_MODEL_VERSION,
    generated_at: now.toISOString(),
  };
}
