/**
 * Bridge configuration (payments.normalized → Temporal, payments.validation.dlq → review workflows): read once from
 * the environment (CONTRACT section 2 plus BRIDGE_* knobs), validated, frozen. A bad value stops the process with a
 * message naming the variable. Tests override topics, groups and the task queue to run in isolation.
 */
import { PAYMENT_TASK_QUEUE, SERVICE_DEFAULTS, serviceAddresses, TOPICS } from '@pep/contracts';
import { envBool as bool, ConfigError, envOneOf, envInt as int, envStr as str } from '@pep/contracts/env';
import { type KafkaConnectionConfig, loadKafkaConnection } from '@pep/contracts/kafka-security';

export { ConfigError };

export interface BridgeConfig {
  readonly kafkaBrokers: readonly string[];
  /** TLS and SASL for Kafka (@pep/contracts/kafka-security). */
  readonly kafka: KafkaConnectionConfig;
  readonly temporalAddress: string;
  readonly namespace: string;
  readonly taskQueue: string;
  readonly clientId: string;
  readonly normalizedTopic: string;
  readonly paymentGroupId: string;
  /** Topic to which events that cannot start a workflow (not JSON, no event_id) are quarantined. */
  readonly validationDlqTopic: string;
  /** Start payment workflows from payments.normalized (off: a reviews-only bridge process). */
  readonly paymentsEnabled: boolean;
  /** Register payments.validation.dlq records for review (off: another process does it, or nobody). */
  readonly reviewsEnabled: boolean;
  /** CPU niceness the process takes at start (0-19; a reviews-only bridge: work that may wait yields the CPU). */
  readonly nice: number;
  readonly reviewGroupId: string;
  readonly reviewTimeoutMs: number;
  /**
   * The review work runs apart from payments and off Temporal (issue 13): runs of up to reviewGroupSize DLQ records,
   * each registered as pending quarantine_reviews rows by one INSERT in PostgreSQL (databaseUrl), at most
   * reviewGroupsPerS a second. A flood waits as Kafka lag; a workflow runs only when a reviewer decides.
   */
  readonly databaseUrl: string;
  readonly reviewGroupSize: number;
  readonly reviewGroupsPerS: number;
  readonly reviewFetchMaxWaitMs: number;
  /** Workflow starts awaiting their ack at once, per consumer (bounded concurrency). */
  readonly maxInFlight: number;
  readonly startRetryInitialMs: number;
  readonly startRetryMaxMs: number;
  readonly activityMode: 'remote' | 'local';
  /**
   * 1: always one PaymentEventWorkflow per event (workflow id `payment-<event_id>`); n > 1 (default 50): adaptive
   * (combiner.ts) — one workflow per event while the workflow budget lasts, then groups of up to n events. The dev
   * server sustains only ~20 workflows/s here, so a high rate must be grouped.
   */
  readonly batchSize: number;
  /**
   * Workflow budget of the adaptive mode (budget.ts): starts at initialWorkflowsPerS and follows the load within
   * [minWorkflowsPerS, maxWorkflowsPerS] (AIMD on sampled workflow start→complete latency and task-queue backlog).
   * min = max gives a fixed budget.
   */
  readonly maxWorkflowsPerS: number;
  readonly minWorkflowsPerS: number;
  readonly initialWorkflowsPerS: number;
  /** Median sampled start→complete latency above which the budget decreases. */
  readonly budgetTargetLatencyMs: number;
  /** Median start request latency (until Temporal acknowledged) above which the budget decreases. */
  readonly budgetTargetStartLatencyMs: number;
  /** Task-queue backlog (workflow tasks) above which the budget decreases (0: latency only). */
  readonly budgetMaxBacklog: number;
  readonly budgetIntervalMs: number;
  readonly budgetIncreasePerS: number;
  /** Multiplicative decrease, in percent of the current rate (75: to 3/4). */
  readonly budgetDecreasePercent: number;
  /** Longest gap between two completion samples, and the samples awaited at once (bounded extra load). */
  readonly budgetSampleEveryMs: number;
  readonly budgetMaxSamplesInFlight: number;
  /** Budget tokens when idle: per-event workflows in a burst after a quiet period. */
  readonly burstWorkflows: number;
  /** Longest a fetched partition batch waits for the other partitions of the fetch to join its workflows. */
  readonly batchWindowMs: number;
  /** Longest pause before the next fetch while the budget is in debt. */
  readonly maxPaceMs: number;
  /** Backpressure: new starts wait while more workflow tasks than this wait in the task queue (0: off). */
  readonly maxTemporalBacklog: number;
  readonly backlogPollMs: number;
  /** Broker-side fetch linger: wait up to fetchMaxWaitMs for fetchMinBytes, so batches fill at moderate rates. */
  readonly fetchMinBytes: number;
  readonly fetchMaxWaitMs: number;
  readonly sessionTimeoutMs: number;
  readonly lagIntervalMs: number;
  readonly metricsHost: string;
  /** 0 disables the metrics server. */
  readonly metricsPort: number;
  readonly fromBeginning: boolean;
}

export function loadBridgeConfig(env: NodeJS.ProcessEnv = process.env): BridgeConfig {
  const addr = serviceAddresses(env);
  const mode = envOneOf(env, 'BRIDGE_ACTIVITY_MODE', 'local', ['local', 'remote']);
  const batchSize = int(env, 'BRIDGE_BATCH_SIZE', 50, 1, 200);
  if (!bool(env, 'BRIDGE_PAYMENTS', true) && !bool(env, 'BRIDGE_REVIEWS', true)) {
    throw new ConfigError('BRIDGE_PAYMENTS and BRIDGE_REVIEWS are both off: the bridge would have nothing to do');
  }
  const initial = int(env, 'BRIDGE_START_RETRY_INITIAL_MS', 200, 1, 60_000);
  const max = int(env, 'BRIDGE_START_RETRY_MAX_MS', 10_000, 1, 600_000);
  if (max < initial) throw new ConfigError('BRIDGE_START_RETRY_MAX_MS must be >= BRIDGE_START_RETRY_INITIAL_MS');
  return Object.freeze({
    kafkaBrokers: addr.kafkaBrokers,
    kafka: loadKafkaConnection(env),
    temporalAddress: addr.temporalAddress,
    namespace: str(env, 'TEMPORAL_NAMESPACE', 'default'),
    taskQueue: str(env, 'TEMPORAL_TASK_QUEUE', PAYMENT_TASK_QUEUE),
    clientId: str(env, 'BRIDGE_CLIENT_ID', 'workflow-bridge'),
    normalizedTopic: str(env, 'BRIDGE_NORMALIZED_TOPIC', TOPICS.normalized),
    paymentGroupId: str(env, 'BRIDGE_GROUP_ID', 'workflow-bridge'),
    validationDlqTopic: str(env, 'BRIDGE_VALIDATION_DLQ_TOPIC', TOPICS.validationDlq),
    paymentsEnabled: bool(env, 'BRIDGE_PAYMENTS', true),
    reviewsEnabled: bool(env, 'BRIDGE_REVIEWS', true),
    nice: int(env, 'BRIDGE_NICE', 0, 0, 19),
    reviewGroupId: str(env, 'BRIDGE_REVIEW_GROUP_ID', 'workflow-bridge-reviews'),
    reviewTimeoutMs: int(env, 'BRIDGE_REVIEW_TIMEOUT_HOURS', 168, 1, 24 * 365) * 3_600_000,
    databaseUrl: addr.databaseUrl,
    reviewGroupSize: int(env, 'BRIDGE_REVIEW_GROUP_SIZE', 500, 1, 500),
    reviewGroupsPerS: int(env, 'BRIDGE_REVIEW_GROUPS_PER_S', 2, 1, 1000),
    reviewFetchMaxWaitMs: int(env, 'BRIDGE_REVIEW_FETCH_MAX_WAIT_MS', 500, 1, 10_000),
    maxInFlight: int(env, 'BRIDGE_MAX_IN_FLIGHT', 64, 1, 10_000),
    startRetryInitialMs: initial,
    startRetryMaxMs: max,
    activityMode: mode,
    batchSize,
    fetchMinBytes: int(
      env,
      'BRIDGE_FETCH_MIN_BYTES',
      batchSize > 1 ? Math.min(batchSize, 25) * 512 : 1,
      1,
      64 * 1024 * 1024,
    ),
    // The dev server (SQLite, 2 vCPUs) sustained about 20/s; 10/s was the measured fixed optimum, so start there.
    ...budget(env),
    burstWorkflows: int(env, 'BRIDGE_BURST_WORKFLOWS', 4, 1, 100_000),
    batchWindowMs: int(env, 'BRIDGE_BATCH_WINDOW_MS', 1, 0, 1_000),
    maxPaceMs: int(env, 'BRIDGE_MAX_PACE_MS', 1_000, 0, 60_000),
    maxTemporalBacklog: int(env, 'BRIDGE_MAX_TEMPORAL_BACKLOG', 32, 0, 1_000_000),
    backlogPollMs: int(env, 'BRIDGE_BACKLOG_POLL_MS', 200, 10, 60_000),
    fetchMaxWaitMs: int(env, 'BRIDGE_FETCH_MAX_WAIT_MS', 20, 1, 10_000),
    sessionTimeoutMs: int(env, 'BRIDGE_SESSION_TIMEOUT_MS', 30_000, 6_000, 300_000),
    lagIntervalMs: int(env, 'BRIDGE_LAG_INTERVAL_MS', 5_000, 100, 600_000),
    metricsHost: str(env, 'BRIDGE_METRICS_HOST', '127.0.0.1'),
    metricsPort: int(env, 'BRIDGE_METRICS_PORT', SERVICE_DEFAULTS.metrics.bridge, 0, 65535),
    fromBeginning: bool(env, 'BRIDGE_FROM_BEGINNING', true),
  });
}

function budget(env: NodeJS.ProcessEnv) {
  // Default ceiling 10/s: on the SQLite dev server the produce→row p99 grows with the workflow rate before the
  // controller's signals do (measured: 16–30/s chosen at 264–275 events/s gave p99 805–844 ms, 10/s gave 226 ms).
  // Raise it for a bigger Temporal; the controller then climbs while the signals allow.
  const maxWorkflowsPerS = int(env, 'BRIDGE_MAX_WORKFLOWS_PER_S', 10, 1, 100_000);
  const minWorkflowsPerS = int(env, 'BRIDGE_MIN_WORKFLOWS_PER_S', Math.min(2, maxWorkflowsPerS), 1, 100_000);
  if (minWorkflowsPerS > maxWorkflowsPerS) {
    throw new ConfigError('BRIDGE_MIN_WORKFLOWS_PER_S must be <= BRIDGE_MAX_WORKFLOWS_PER_S');
  }
  const initial = int(env, 'BRIDGE_INITIAL_WORKFLOWS_PER_S', 10, 1, 100_000);
  return {
    maxWorkflowsPerS,
    minWorkflowsPerS,
    initialWorkflowsPerS: Math.min(maxWorkflowsPerS, Math.max(minWorkflowsPerS, initial)),
    budgetTargetLatencyMs: int(env, 'BRIDGE_BUDGET_TARGET_MS', 250, 1, 600_000),
    budgetTargetStartLatencyMs: int(env, 'BRIDGE_BUDGET_TARGET_START_MS', 100, 1, 600_000),
    budgetMaxBacklog: int(env, 'BRIDGE_BUDGET_MAX_BACKLOG', 16, 0, 1_000_000),
    budgetIntervalMs: int(env, 'BRIDGE_BUDGET_INTERVAL_MS', 1_000, 50, 600_000),
    budgetIncreasePerS: int(env, 'BRIDGE_BUDGET_INCREASE_PER_S', 1, 0, 100_000),
    budgetDecreasePercent: int(env, 'BRIDGE_BUDGET_DECREASE_PERCENT', 75, 1, 99),
    budgetSampleEveryMs: int(env, 'BRIDGE_BUDGET_SAMPLE_EVERY_MS', 100, 1, 600_000),
    budgetMaxSamplesInFlight: int(env, 'BRIDGE_BUDGET_SAMPLES_IN_FLIGHT', 4, 1, 1_000),
  };
}
