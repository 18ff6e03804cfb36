/**
 * The scoring activities' side of the inference API (@pep/contracts inference.ts): the request each scorer gets for
 * an event and the result the workflow keeps from each answer, shared by the per-event and the batch activities.
 */
import type {
  ChurnInput,
  ChurnPrediction,
  FraudInput,
  FraudScore,
  RetryInput,
  RetryStrategy,
  ScoringFields,
  ScoringInfo,
} from '@pep/contracts';
import type { UnifiedEvent } from './event.ts';
import type { ChurnFeatures, ChurnResult, FraudResult, RetryStrategyResult } from './types.ts';

/** Highest attempt count sent to the retry scorer (a corrupt retry_attempt_count must not become a huge number). */
const MAX_ATTEMPT_SENT = 1000;

// The event's fields go out as read: a null the business rules let through is the scorer's to refuse.
export const fraudRequest = (e: UnifiedEvent): FraudInput => ({
  event_id: e.event_id,
  amount_minor: e.amount_minor as number,
  currency: e.currency as string,
  customer_id: e.customer_id,
  merchant_id: e.merchant_id,
  payment_method_type: e.payment_method_type,
  card_brand: e.card_brand,
  event: e,
});

export const retryRequest = (e: UnifiedEvent, attempt: number): RetryInput => ({
  event_id: e.event_id,
  failure_code: e.failure_code,
  failure_message: e.failure_message,
  amount_minor: e.amount_minor as number,
  attempt_count: Math.min(attempt, MAX_ATTEMPT_SENT),
});

export const churnRequest = (e: UnifiedEvent, features: ChurnFeatures): ChurnInput => ({
  customer_id: e.customer_id as string,
  merchant_id: e.merchant_id,
  ...features,
  event_id: e.event_id,
  event: e,
});

/** How the answer was made, when the service says (ml/ with models); undefined from a rules-only service. */
function scoringOf(r: ScoringFields): ScoringInfo | undefined {
  if (typeof r.feature_spec_version !== 'string' && typeof r.fallback !== 'boolean') return undefined;
  return {
    feature_spec_version: r.feature_spec_version ?? null,
    features: r.features ?? null,
    fallback: r.fallback === true,
    fallback_reason: r.fallback_reason ?? null,
  };
}

export const fraudResult = (r: FraudScore): FraudResult => {
  const scoring = scoringOf(r);
  return {
    fraud_score: r.fraud_score,
    risk_level: r.risk_level,
    risk_factors: r.risk_factors ?? [],
    model_version: r.model_version,
    ...(scoring ? { scoring } : {}),
  };
};

export const retryResult = (r: RetryStrategy, attempt: number): RetryStrategyResult => ({
  action: r.action,
  delay_seconds: r.delay_seconds,
  max_attempts: r.max_attempts,
  confidence: r.confidence,
  reason: r.reason,
  model_version: r.model_version,
  attempt_count: attempt,
});

export const churnResult = (r: ChurnPrediction, features: ChurnFeatures): ChurnResult => {
  const scoring = scoringOf(r);
  return {
    churn_score: r.churn_probability,
    risk_level: r.risk_level,
    risk_factors: r.risk_factors ?? [],
    days_to_churn_estimate: r.days_to_churn_estimate,
    model_version: r.model_version,
    features,
    ...(scoring ? { scoring } : {}),
  };
};
