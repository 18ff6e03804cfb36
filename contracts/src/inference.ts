/**
 * The inference service's HTTP API (ml/, called by the workflow activities): paths, request and response bodies, batch
 * envelopes, limits and error codes. Amounts are integer minor units; `model_version` names the scorer that answered.
 * Errors answer `{"error":{"code","message"}}` with a code of INFERENCE_ERROR_CODES.
 */

export const INFERENCE_PATHS = {
  health: '/health',
  fraudScore: '/fraud/score',
  fraudScoreBatch: '/fraud/score/batch',
  churnPredict: '/churn/predict',
  churnPredictBatch: '/churn/predict/batch',
  retryStrategy: '/retry/strategy',
  retryStrategyBatch: '/retry/strategy/batch',
  recoveryRecommend: '/recovery/recommend',
} as const;

export const INFERENCE_ERROR_CODES = {
  invalidRequest: 'invalid_request',
  bodyTooLarge: 'body_too_large',
  notFound: 'not_found',
  internal: 'internal_error',
} as const;

export const INFERENCE_LIMITS = {
  /** Largest accepted request body: a scoring request is a few hundred bytes, a batch at most maxBatchItems of them. */
  maxBodyBytes: 1024 * 1024,
  /** Most items in one batch request. */
  maxBatchItems: 500,
} as const;

/** Body of a `…/batch` request. */
export interface BatchRequest<T> {
  readonly items: readonly T[];
}

/** Answer of a `…/batch` request: one result per item, in order. */
export interface BatchResponse<T> {
  readonly results: T[];
}

/**
 * How a model-served answer was made (ml/ issue #18): the feature spec version the model read, the state of the online
 * features (`online`, `stale`: the features consumer had not applied the event yet, `unavailable`: Redis down), and
 * whether rules-v1 answered instead of a model, with the reason. Optional: older services do not send them.
 */
export interface ScoringFields {
  readonly feature_spec_version?: string;
  readonly features?: 'online' | 'stale' | 'unavailable';
  readonly fallback?: boolean;
  readonly fallback_reason?: string | null;
}

/** ScoringFields as the workflows persist them (payment_events.fraud_scoring / churn_scoring). */
export interface ScoringInfo {
  readonly feature_spec_version: string | null;
  readonly features: string | null;
  readonly fallback: boolean;
  readonly fallback_reason: string | null;
}

export type FraudRiskLevel = 'low' | 'medium' | 'high';

export interface FraudInput {
  readonly event_id: string;
  readonly amount_minor: number;
  readonly currency: string;
  readonly customer_id?: string | null;
  readonly merchant_id?: string | null;
  readonly payment_method_type?: string | null;
  readonly card_brand?: string | null;
  /** The normalized event (CONTRACT section 6): what the model's vectorizer reads; without it rules-v1 answers. */
  readonly event?: unknown;
}

export interface FraudScore extends ScoringFields {
  readonly event_id: string;
  readonly fraud_score: number;
  readonly risk_level: FraudRiskLevel;
  readonly risk_factors: string[];
  readonly model_version: string;
}

export type ChurnRiskLevel = 'low' | 'medium' | 'high' | 'critical';

export interface ChurnInput {
  readonly customer_id: string;
  readonly merchant_id?: string | null;
  readonly total_payments: number;
  readonly successful_payments: number;
  readonly failed_payments: number;
  readonly recovered_payments: number;
  readonly days_since_last_payment: number;
  readonly consecutive_failures: number;
  readonly days_since_last_failure: number | null;
  /** The event being scored and its normalized form (see FraudInput.event). */
  readonly event_id?: string;
  readonly event?: unknown;
}

export interface ChurnPrediction extends ScoringFields {
  readonly customer_id: string;
  readonly churn_probability: number;
  readonly risk_level: ChurnRiskLevel;
  readonly risk_factors: string[];
  readonly recommended_actions: string[];
  readonly days_to_churn_estimate: number | null;
  readonly model_version: string;
  readonly predicted_at: string;
}

export type RetryAction = 'retry_now' | 'retry_delayed' | 'do_not_retry' | 'contact_customer';

export interface RetryInput {
  readonly event_id: string;
  readonly failure_code?: string | null;
  readonly failure_message?: string | null;
  readonly amount_minor: number;
  readonly attempt_count: number;
}

export interface RetryStrategy {
  readonly event_id: string;
  readonly action: RetryAction;
  readonly delay_seconds: number | null;
  readonly max_attempts: number;
  readonly confidence: number;
  readonly reason: string;
  readonly model_version: string;
}

export type RecoveryActionName =
  | 'retry_immediately'
  | 'retry_optimal_time'
  | 'update_payment_method'
  | 'dunning_email'
  | 'sms_reminder'
  | 'offer_alternative'
  | 'pause_subscription'
  | 'escalate_to_support'
  | 'write_off';

export interface RecoveryInput {
  readonly event_id: string;
  readonly customer_id: string;
  readonly merchant_id?: string | null;
  readonly amount_minor: number;
  readonly currency: string;
  readonly failure_code?: string | null;
  readonly failure_message?: string | null;
  readonly attempt_number: number;
  readonly max_attempts: number;
  readonly hours_since_first_failure: number;
  readonly customer_lifetime_value_minor: number;
  readonly subscription_tier?: string | null;
  readonly has_valid_email: boolean;
  readonly has_valid_phone: boolean;
  readonly payment_method_type?: string | null;
  readonly card_brand?: string | null;
  readonly card_exp_month?: number | null;
  readonly card_exp_year?: number | null;
  readonly has_backup_payment_method: boolean;
}

export interface RecoveryStep {
  readonly action: RecoveryActionName;
  readonly delay_hours: number;
  readonly reason: string;
  readonly expected_success_rate: number;
}

export interface RecoveryPlan {
  readonly event_id: string;
  readonly customer_id: string;
  readonly priority: 'urgent' | 'high' | 'medium' | 'low';
  readonly primary_action: RecoveryActionName;
  readonly recovery_plan: RecoveryStep[];
  readonly optimal_retry_hour_utc: number;
  readonly estimated_recovery_probability: number;
  readonly confidence: number;
  readonly insights: string[];
  readonly model_version: string;
  readonly generated_at: string;
}
