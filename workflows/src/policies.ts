/**
 * Per-activity timeouts and retry policies of PaymentEventWorkflow and DlqReviewWorkflow. Defaults are the numbers of
 * reference section 3.3; a workflow input may override any of them (the bridge passes the worker operator's settings,
 * tests pass short ones). Workflow-safe: plain data, no Node built-ins.
 */

export interface ActivityPolicy {
  readonly startToCloseTimeoutMs: number;
  readonly initialIntervalMs: number;
  readonly backoffCoefficient: number;
  readonly maximumIntervalMs: number;
  readonly maximumAttempts: number;
}

export type PolicyName = 'rules' | 'scoring' | 'persist' | 'review';

export const DEFAULT_POLICIES: Readonly<Record<PolicyName, ActivityPolicy>> = {
  /** validate_business_rules: 10 s, 1 s × 2.0 up to 10 s, 3 attempts. */
  rules: {
    startToCloseTimeoutMs: 10_000,
    initialIntervalMs: 1_000,
    backoffCoefficient: 2,
    maximumIntervalMs: 10_000,
    maximumAttempts: 3,
  },
  /** fraud score, retry strategy, churn: 30 s, 2 s × 2.0 up to 30 s, 5 attempts. */
  scoring: {
    startToCloseTimeoutMs: 30_000,
    initialIntervalMs: 2_000,
    backoffCoefficient: 2,
    maximumIntervalMs: 30_000,
    maximumAttempts: 5,
  },
  /** persist_to_postgres: 30 s, 1 s × 2.0 up to 10 s, 5 attempts. */
  persist: {
    startToCloseTimeoutMs: 30_000,
    initialIntervalMs: 1_000,
    backoffCoefficient: 2,
    maximumIntervalMs: 10_000,
    maximumAttempts: 5,
  },
  /** quarantine review bookkeeping and re-injection (same numbers as the original's quarantine persistence). */
  review: {
    startToCloseTimeoutMs: 30_000,
    initialIntervalMs: 1_000,
    backoffCoefficient: 2,
    maximumIntervalMs: 10_000,
    maximumAttempts: 5,
  },
};

export type PolicyOverrides = Partial<Record<PolicyName, Partial<ActivityPolicy>>>;

export function resolvePolicy(name: PolicyName, overrides: PolicyOverrides | undefined): ActivityPolicy {
  return { ...DEFAULT_POLICIES[name], ...(overrides?.[name] ?? {}) };
}

/** Temporal activity options for a policy (millisecond numbers are valid Duration values). */
export function activityOptions(p: ActivityPolicy) {
  return {
    startToCloseTimeout: p.startToCloseTimeoutMs,
    retry: {
      initialInterval: p.initialIntervalMs,
      backoffCoefficient: p.backoffCoefficient,
      maximumInterval: p.maximumIntervalMs,
      maximumAttempts: p.maximumAttempts,
      nonRetryableErrorTypes: ['BusinessRuleViolation', 'InferenceRequestRejected', 'InvalidReviewDecision'],
    },
  };
}
