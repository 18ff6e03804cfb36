/**
 * The orchestration worker (Node only): migrates the run history, serves /metrics, and polls the batch task queue
 * (`batch-graph`, never the payment path's) with the graph's workflows and activities. At most
 * ORCH_MAX_CONCURRENT_STEPS steps run at once in this process. SIGINT/SIGTERM stop polling, let running steps
 * finish (up to the shutdown grace), then exit; a step cut off by a kill is retried by Temporal after its heartbeat
 * timeout and resumes from its committed chunks.
 */

import { fileURLToPath } from 'node:url';
import { redactUrl } from '@pep/contracts/env';
import { createLogger } from '@pep/contracts/log';
import { temporalConnectionOptions } from '@pep/contracts/managed';
import { serveMetrics } from '@pep/contracts/metrics';
import { exitWithParent } from '@pep/contracts/parent';
import { NativeConnection, Worker } from '@temporalio/worker';
import type pg from 'pg';
import { createActivities } from './activities.ts';
import { loadConfig, type OrchestrationConfig } from './config.ts';
import type { StepGraph } from './graph.ts';
import { createPool, migrate } from './history.ts';
import { createMetrics } from './metrics.ts';
import type { StepEnv } from './step.ts';
import { stepEnv } from './step-env.ts';
import { defaultGraph } from './steps/index.ts';

export const WORKFLOWS_PATH = fileURLToPath(new URL('./workflows.ts', import.meta.url));

export interface RunningWorker {
  readonly worker: Worker;
  readonly done: Promise<void>;
  shutdown(): Promise<void>;
}

export async function startOrchestrationWorker(
  config: OrchestrationConfig,
  opts: { pool: pg.Pool; graph?: StepGraph; env?: StepEnv; metricsPort?: number },
): Promise<RunningWorker & { metricsUrl: string | null }> {
  const graph = opts.graph ?? defaultGraph();
  const env = opts.env ?? stepEnv(opts.pool);
  const metrics = createMetrics(graph, env);
  const port = opts.metricsPort ?? config.metricsPort;
  const server = port > 0 ? await serveMetrics(metrics.registry, config.metricsHost, port) : null;
  const address = server?.address();
  const metricsUrl =
    address && typeof address === 'object' ? `http://${config.metricsHost}:${address.port}/metrics` : null;
  const connection = await NativeConnection.connect(temporalConnectionOptions(config.temporalAddress));
  const worker = await Worker.create({
    connection,
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    workflowsPath: WORKFLOWS_PATH,
    activities: createActivities({ graph, env, metrics: metrics.hooks }),
    maxConcurrentActivityTaskExecutions: config.maxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: 10,
    shutdownGraceTime: '30 seconds',
  });
  const done = worker.run().finally(async () => {
    await connection.close().catch(() => {});
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
  });
  return {
    worker,
    done,
    metricsUrl,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger('info', { service: 'orchestration-worker' });
  const log = (msg: string, fields: Record<string, unknown> = {}) => logger.info(msg, fields);
  log('migrating', { database: redactUrl(config.databaseUrl) });
  await migrate(config.databaseUrl);
  const pool = createPool(config.databaseUrl, config.pgPoolSize);
  const running = await startOrchestrationWorker(config, { pool });
  log('worker polling', {
    temporal: config.temporalAddress,
    taskQueue: config.taskQueue,
    metrics: running.metricsUrl ?? 'off',
    ui: config.uiUrl,
  });
  const stop = () => {
    log('stopping worker');
    void running.shutdown();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // Started by a launcher (npm start): stop with it, also when it is SIGKILLed (@pep/contracts/parent).
  exitWithParent({ onParentGone: () => log('launcher gone: stopping worker') });
  await running.done;
  await pool.end();
  log('worker stopped');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === (await import('node:path')).resolve(process.argv[1])) {
  main().catch((err: unknown) => {
    createLogger('error', { service: 'orchestration-worker' }).error('worker failed', {
      error: (err as Error).stack ?? String(err),
    });
    process.exit(1);
  });
}
