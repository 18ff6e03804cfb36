/**
 * Worker configuration, validated once at startup into one frozen object (defaults, then environment). A bad value
 * stops the process with a message naming the variable. The database URL's password is redacted when printed.
 */
import { PAYMENT_TASK_QUEUE, REVIEW_TASK_QUEUE, SERVICE_DEFAULTS, serviceAddresses } from '@pep/contracts';
import { ConfigError, envInt, envList, envStr } from '@pep/contracts/env';
import { type KafkaConnectionConfig, loadKafkaConnection } from '@pep/contracts/kafka-security';
import { type BusinessRulesConfig, DEFAULT_RULES_CONFIG } from './rules.ts';

export interface WorkerConfig {
  readonly temporalAddress: string;
  readonly namespace: string;
  readonly taskQueue: string;
  readonly databaseUrl: string;
  readonly kafkaBrokers: readonly string[];
  /** TLS and SASL for Kafka (@pep/contracts/kafka-security). */
  readonly kafka: KafkaConnectionConfig;
  readonly inferenceUrl: string;
  readonly inferenceTimeoutMs: number;
  /**
   * `WORKER_FRAUD_SCORING`: `in-process` (default) scores fraud batches in this worker with @pep/ml/scoring (same
   * features, models, hot reload and answers as the inference service, no HTTP: about half the CPU per 64-event call;
   * its `inference_*` metrics on this worker's /metrics); `http` sends them to the inference service. Churn and retry
   * answers still come from the service.
   */
  readonly fraudScoring: 'http' | 'in-process';
  readonly maxConcurrentActivities: number;
  readonly maxConcurrentWorkflowTasks: number;
  readonly pgPoolSize: number;
  /**
   * The worker's Prometheus endpoint (`/metrics`: its own metrics, the in-process scorer's, then Temporal's runtime
   * metrics, src/worker-metrics.ts); 0 turns it off, Temporal's exporter with it.
   */
  readonly metricsHost: string;
  readonly metricsPort: number;
  /**
   * Temporal's runtime exporter, bound to 127.0.0.1 only and read by the endpoint above at each scrape
   * (`WORKER_TEMPORAL_METRICS_PORT`, default 0: a free port picked at start; `WORKER_TEMPORAL_METRICS_TIMEOUT_MS`).
   */
  readonly temporalMetricsPort: number;
  readonly temporalMetricsTimeoutMs: number;
  readonly rules: BusinessRulesConfig;
  /**
   * Which task queues this process polls (`WORKER_LANES`, default both): `npm start` runs the payment lane and the
   * review lane as two processes, the review one at a lower CPU priority (`WORKER_NICE`), so that a flood of invalid
   * events yields the CPU to payments on a busy machine (issue 13).
   */
  readonly lanes: { readonly payments: boolean; readonly reviews: boolean };
  /** CPU niceness the process takes at start (0-19, default 0). */
  readonly nice: number;
  /** The DLQ review work's own task queue and slot budget (issue 13: reviews never queue in front of payments). */
  readonly review: {
    readonly taskQueue: string;
    readonly maxConcurrentWorkflowTasks: number;
    readonly maxConcurrentActivities: number;
    /** How often pending grouped reviews past their expiry are marked expired (0: never, from this process). */
    readonly expirySweepMs: number;
    readonly expiryBatch: number;
  };
}

export { ConfigError, redactUrl } from '@pep/contracts/env';

/** A positive integer up to `max`. */
const posInt = (env: NodeJS.ProcessEnv, name: string, dflt: number, max = Number.MAX_SAFE_INTEGER): number =>
  envInt(env, name, dflt, 1, max);

/** `JPY:10000000000,KRW:100000000000` → { JPY: 10000000000, KRW: 100000000000 } */
function perCurrency(
  env: NodeJS.ProcessEnv,
  name: string,
  dflt: Readonly<Record<string, number>>,
): Readonly<Record<string, number>> {
  const items = envList(env, name, []);
  if (items.length === 0) return dflt;
  const out: Record<string, number> = {};
  for (const item of items) {
    const m = /^([A-Za-z]{3}):(\d{1,16})$/.exec(item);
    if (!m) throw new ConfigError(`${name}: expected CUR:amount, got ${JSON.stringify(item)}`);
    out[(m[1] as string).toUpperCase()] = Number(m[2]);
  }
  return out;
}

function fraudScoring(env: NodeJS.ProcessEnv): 'http' | 'in-process' {
  const v = env.WORKER_FRAUD_SCORING ?? 'in-process';
  if (v !== 'http' && v !== 'in-process')
    throw new ConfigError(`WORKER_FRAUD_SCORING must be http or in-process, got ${JSON.stringify(v)}`);
  return v;
}

function lanes(env: NodeJS.ProcessEnv): { payments: boolean; reviews: boolean } {
  const names = envList(env, 'WORKER_LANES', ['payments', 'reviews'], 1);
  for (const n of names)
    if (n !== 'payments' && n !== 'reviews')
      throw new ConfigError(`WORKER_LANES: expected payments and/or reviews, got ${JSON.stringify(n)}`);
  return { payments: names.includes('payments'), reviews: names.includes('reviews') };
}

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const addr = serviceAddresses(env);
  const currencies = envList(env, 'WORKFLOW_ALLOWED_CURRENCIES', DEFAULT_RULES_CONFIG.allowedCurrencies).map((c) =>
    c.toUpperCase(),
  );
  for (const c of currencies)
    if (!/^[A-Z]{3}$/.test(c))
      throw new ConfigError(`WORKFLOW_ALLOWED_CURRENCIES: ${JSON.stringify(c)} is not an ISO 4217 code`);
  const inferenceUrl = env.INFERENCE_URL ?? `http://127.0.0.1:${env.INFERENCE_PORT ?? SERVICE_DEFAULTS.inference.port}`;
  try {
    new URL(inferenceUrl);
  } catch {
    throw new ConfigError(`INFERENCE_URL is not a URL: ${JSON.stringify(inferenceUrl)}`);
  }
  const metricsPort =
    env.WORKER_METRICS_PORT === '0' ? 0 : posInt(env, 'WORKER_METRICS_PORT', SERVICE_DEFAULTS.metrics.worker, 65535);
  const temporalMetricsPort = envInt(env, 'WORKER_TEMPORAL_METRICS_PORT', 0, 0, 65535);
  if (metricsPort > 0 && temporalMetricsPort === metricsPort)
    throw new ConfigError(
      `WORKER_TEMPORAL_METRICS_PORT must differ from WORKER_METRICS_PORT (${metricsPort}): the worker serves that one`,
    );
  return Object.freeze({
    temporalAddress: addr.temporalAddress,
    namespace: envStr(env, 'TEMPORAL_NAMESPACE', 'default'),
    taskQueue: envStr(env, 'TEMPORAL_TASK_QUEUE', PAYMENT_TASK_QUEUE),
    databaseUrl: addr.databaseUrl,
    kafkaBrokers: addr.kafkaBrokers,
    kafka: loadKafkaConnection(env),
    inferenceUrl,
    inferenceTimeoutMs: posInt(env, 'INFERENCE_TIMEOUT_MS', 10_000, 600_000),
    fraudScoring: fraudScoring(env),
    maxConcurrentActivities: posInt(env, 'WORKER_MAX_CONCURRENT_ACTIVITIES', 100, 10_000),
    maxConcurrentWorkflowTasks: posInt(env, 'WORKER_MAX_CONCURRENT_WORKFLOW_TASKS', 40, 10_000),
    pgPoolSize: posInt(env, 'WORKER_PG_POOL_SIZE', 10, 200),
    metricsHost: envStr(env, 'WORKER_METRICS_HOST', '127.0.0.1'),
    metricsPort,
    temporalMetricsPort,
    temporalMetricsTimeoutMs: posInt(env, 'WORKER_TEMPORAL_METRICS_TIMEOUT_MS', 2000, 60_000),
    lanes: Object.freeze(lanes(env)),
    nice: envInt(env, 'WORKER_NICE', 0, 0, 19),
    review: Object.freeze({
      taskQueue: envStr(env, 'REVIEW_TASK_QUEUE', REVIEW_TASK_QUEUE),
      maxConcurrentWorkflowTasks: posInt(env, 'REVIEW_WORKER_MAX_WORKFLOW_TASKS', 2, 1000),
      maxConcurrentActivities: posInt(env, 'REVIEW_WORKER_MAX_ACTIVITIES', 2, 1000),
      expirySweepMs: env.REVIEW_EXPIRY_SWEEP_MS === '0' ? 0 : posInt(env, 'REVIEW_EXPIRY_SWEEP_MS', 60_000, 86_400_000),
      expiryBatch: posInt(env, 'REVIEW_EXPIRY_BATCH', 1000, 100_000),
    }),
    rules: Object.freeze({
      allowedCurrencies: Object.freeze(currencies),
      blockedCustomers: Object.freeze(
        envList(env, 'WORKFLOW_BLOCKED_CUSTOMERS', DEFAULT_RULES_CONFIG.blockedCustomers),
      ),
      blockedMerchants: Object.freeze(
        envList(env, 'WORKFLOW_BLOCKED_MERCHANTS', DEFAULT_RULES_CONFIG.blockedMerchants),
      ),
      maxAmountMinor: posInt(env, 'WORKFLOW_MAX_AMOUNT_MINOR', DEFAULT_RULES_CONFIG.maxAmountMinor),
      maxAmountMinorByCurrency: Object.freeze(
        perCurrency(env, 'WORKFLOW_MAX_AMOUNT_MINOR_BY_CURRENCY', DEFAULT_RULES_CONFIG.maxAmountMinorByCurrency),
      ),
      highValueWarningMinor: posInt(
        env,
        'WORKFLOW_HIGH_VALUE_WARNING_MINOR',
        DEFAULT_RULES_CONFIG.highValueWarningMinor,
      ),
    }),
  });
}
