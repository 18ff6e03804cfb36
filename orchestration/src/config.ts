/**
 * Configuration of the orchestration worker and CLIs, validated once into a frozen object (defaults, then the
 * environment); a bad value stops the process with the variable's name. The database URL's password is redacted
 * when printed.
 */
import { ORCHESTRATION_TASK_QUEUE, SERVICE_DEFAULTS, serviceAddresses } from '@pep/contracts';
import { envInt, envStr } from '@pep/contracts/env';

export interface OrchestrationConfig {
  readonly temporalAddress: string;
  readonly namespace: string;
  /** Batch steps only: never the payment path's queue. */
  readonly taskQueue: string;
  readonly databaseUrl: string;
  readonly pgPoolSize: number;
  readonly maxConcurrentActivities: number;
  readonly metricsHost: string;
  /** 0: no metrics endpoint. */
  readonly metricsPort: number;
  /** Temporal UI served by the dev server, for links. */
  readonly uiUrl: string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): OrchestrationConfig {
  const addr = serviceAddresses(env);
  return Object.freeze({
    temporalAddress: addr.temporalAddress,
    namespace: envStr(env, 'TEMPORAL_NAMESPACE', 'default'),
    taskQueue: envStr(env, 'ORCH_TASK_QUEUE', ORCHESTRATION_TASK_QUEUE),
    databaseUrl: addr.databaseUrl,
    pgPoolSize: envInt(env, 'ORCH_PG_POOL_SIZE', 5, 2, 100),
    maxConcurrentActivities: envInt(env, 'ORCH_MAX_CONCURRENT_STEPS', 4, 1, 100),
    metricsHost: envStr(env, 'ORCH_METRICS_HOST', '127.0.0.1'),
    metricsPort: envInt(env, 'ORCH_METRICS_PORT', SERVICE_DEFAULTS.metrics.orchestrator, 0, 65535),
    uiUrl: envStr(
      env,
      'TEMPORAL_UI_URL',
      `http://127.0.0.1:${envInt(env, 'TEMPORAL_UI_PORT', SERVICE_DEFAULTS.temporal.uiPort, 1, 65535)}`,
    ),
  });
}
