/**
 * The payment worker process (Node only; the Temporal worker does not run on Bun): runs the workflows migrations,
 * connects PostgreSQL, Kafka (for review re-injection) and Temporal, and polls the payment task queue with
 * PaymentEventWorkflow and their activities, and the DLQ review task queue (`REVIEW_TASK_QUEUE`) with a second worker
 * of its own small slot budget (grouped reviews, decisions; issue 13: a flood of invalid events must not delay
 * payments), plus a bounded sweep that expires grouped reviews past their time. SIGINT/SIGTERM drain in-flight tasks,
 * then exit.
 */

import { fileURLToPath } from 'node:url';
import { lowerPriority } from '@pep/contracts/env';
import { kafkajsConnection } from '@pep/contracts/kafka-security';
import { createLogger } from '@pep/contracts/log';
import { temporalConnectionOptions } from '@pep/contracts/managed';
import { Registry, registerProcessMetrics, serveMetrics } from '@pep/contracts/metrics';
import { exitWithParent } from '@pep/contracts/parent';
import { SerialIdempotentProducer } from '@pep/kafka-wire/serial-producer';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import '@pep/contracts/kafkajs-read-committed';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import type pg from 'pg';
import { createPaymentActivities, createReviewActivities, expireReviews } from './activities.ts';
import { loadWorkerConfig, redactUrl, type WorkerConfig } from './config.ts';
import { createPool, migrate, quarantineReviewColumnsPresent } from './db.ts';
import { createInferenceClient } from './inference-client.ts';
import { withInProcessFraud } from './local-fraud.ts';
import { createRawReader } from './raw-reader.ts';
import { freeLoopbackPort, type MetricsSource, workerMetrics } from './worker-metrics.ts';

export const WORKFLOWS_PATH = fileURLToPath(new URL('./workflows.ts', import.meta.url));

export interface RunningWorker {
  /** Polls the payment task queue (null when `WORKER_LANES` leaves payments out). */
  readonly worker: Worker | null;
  /** Polls the DLQ review task queue with its own slot budget (null when `WORKER_LANES` leaves reviews out). */
  readonly reviewWorker: Worker | null;
  /**
   * Metrics of this worker's parts for its /metrics: the in-process fraud scorer's registry (`inference_*`) when
   * `WORKER_FRAUD_SCORING=in-process` and the payment lane runs, else none.
   */
  readonly metrics: readonly MetricsSource[];
  /** Resolves when the worker has stopped (after shutdown() or a fatal error). */
  readonly done: Promise<void>;
  shutdown(): Promise<void>;
}

/** Creates and starts a worker with real dependencies; used by main below, the tests and the benchmark. */
export async function startWorker(config: WorkerConfig, opts: { pool?: pg.Pool } = {}): Promise<RunningWorker> {
  const pool = opts.pool ?? createPool(config.databaseUrl, config.pgPoolSize);
  const kafka = new Kafka({
    ...kafkajsConnection(config.kafka),
    clientId: 'payment-worker',
    brokers: [...config.kafkaBrokers],
    logLevel: logLevel.WARN,
  });
  // Review activities run concurrently: one kafkajs idempotent producer shared by them could acknowledge a record
  // it never wrote after a failed send (see kafka-wire/src/serial-producer.ts), so sends go through the serial one.
  const producer = new SerialIdempotentProducer(() =>
    kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner }),
  );
  await producer.connect();
  const connection = await NativeConnection.connect(temporalConnectionOptions(config.temporalAddress));
  const reviewActivities = createReviewActivities({ pool, producer, readRaw: createRawReader(kafka) });
  const http = createInferenceClient({ baseUrl: config.inferenceUrl, timeoutMs: config.inferenceTimeoutMs });
  // In-process fraud scoring loads onnxruntime-node, the models and a Redis client only when asked for.
  const local =
    config.lanes.payments && config.fraudScoring === 'in-process'
      ? await import('@pep/ml/scoring').then(async (m) => ({
          scoring: await m.startLocalScoring(process.env),
          isInvalidRequest: m.isInvalidRequest,
        }))
      : null;
  const worker = !config.lanes.payments
    ? null
    : await Worker.create({
        connection,
        namespace: config.namespace,
        taskQueue: config.taskQueue,
        workflowsPath: WORKFLOWS_PATH,
        activities: {
          ...createPaymentActivities({
            pool,
            inference: local ? withInProcessFraud(http, local.scoring, local.isInvalidRequest) : http,
            rules: config.rules,
          }),
          // Legacy per-record DlqReviewWorkflows started before issue 13 still run on the payment queue.
          ...reviewActivities,
        },
        maxConcurrentActivityTaskExecutions: config.maxConcurrentActivities,
        maxConcurrentLocalActivityExecutions: config.maxConcurrentActivities,
        maxConcurrentWorkflowTaskExecutions: config.maxConcurrentWorkflowTasks,
      });
  // The review work's own worker: its own task queue and a small slot budget, so a flood of quarantined records is a
  // backlog on that queue, never a workflow task or an activity slot the payment workflows wait for.
  const reviewWorker = !config.lanes.reviews
    ? null
    : await Worker.create({
        connection,
        namespace: config.namespace,
        taskQueue: config.review.taskQueue,
        workflowsPath: WORKFLOWS_PATH,
        activities: reviewActivities,
        maxConcurrentActivityTaskExecutions: config.review.maxConcurrentActivities,
        maxConcurrentLocalActivityExecutions: config.review.maxConcurrentActivities,
        maxConcurrentWorkflowTaskExecutions: config.review.maxConcurrentWorkflowTasks,
        // Fewer pollers than the payment worker (default 5): the review queue must not take the server's attention.
        maxConcurrentWorkflowTaskPolls: 1,
        maxConcurrentActivityTaskPolls: 1,
      });
  let sweeping = false;
  const sweepLog = createLogger('info', { service: 'review-worker' });
  const sweep =
    config.lanes.reviews && config.review.expirySweepMs > 0
      ? setInterval(() => {
          if (sweeping) return;
          sweeping = true;
          expireReviews(pool, config.review.expiryBatch)
            .catch((err: Error) => sweepLog.warn('review expiry sweep failed', { error: err }))
            .finally(() => {
              sweeping = false;
            });
        }, config.review.expirySweepMs)
      : undefined;
  // When one worker stops with a fatal error, the other is shut down too: the process exits and its supervisor restarts it.
  const workers = [worker, reviewWorker].filter((w): w is Worker => w !== null);
  const runs = workers.map((w) =>
    w.run().catch((err: unknown) => {
      for (const other of workers) if (other !== w && other.getState() === 'RUNNING') other.shutdown();
      throw err;
    }),
  );
  const done = Promise.allSettled(runs)
    .then((results) => {
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    })
    .finally(async () => {
      if (sweep) clearInterval(sweep);
      await producer.disconnect().catch(() => {});
      await connection.close().catch(() => {});
      http.close();
      await local?.scoring.close().catch(() => {});
      if (!opts.pool) await pool.end().catch(() => {});
    });
  return {
    worker,
    reviewWorker,
    metrics: local ? [local.scoring.registry] : [],
    done,
    async shutdown() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await done;
    },
  };
}

async function main(): Promise<void> {
  const config = loadWorkerConfig();
  const nice = config.nice > 0 ? lowerPriority(config.nice) : 0;
  const logger = createLogger('info', { service: 'payment-worker' });
  // Temporal's own worker metrics (workflow/activity completions, failures, latencies, task slots) in Prometheus form,
  // so a failing step is visible as a metric too. Its exporter must be installed before the first connection; it
  // listens on an internal loopback port, and the worker's /metrics (WORKER_METRICS_PORT) serves its text after the
  // worker's own metrics and the in-process scorer's (src/worker-metrics.ts).
  let running: RunningWorker | undefined;
  let metricsServer: import('node:http').Server | undefined;
  if (config.metricsPort > 0) {
    const temporalPort = config.temporalMetricsPort || (await freeLoopbackPort());
    Runtime.install({
      telemetryOptions: {
        metrics: { prometheus: { bindAddress: `127.0.0.1:${temporalPort}`, countersTotalSuffix: true } },
      },
    });
    const own = new Registry();
    registerProcessMetrics(own);
    const source = workerMetrics({
      own,
      sources: () => running?.metrics ?? [],
      temporalUrl: `http://127.0.0.1:${temporalPort}/metrics`,
      temporalStarted: () => running !== undefined,
      timeoutMs: config.temporalMetricsTimeoutMs,
      log: logger,
    });
    metricsServer = await serveMetrics(source, config.metricsHost, config.metricsPort);
  }
  const log = (msg: string, fields: Record<string, unknown> = {}) => logger.info(msg, fields);
  log('migrating', { database: redactUrl(config.databaseUrl) });
  await migrate(config.databaseUrl);
  const pool = createPool(config.databaseUrl, config.pgPoolSize);
  const reviewColumns = await quarantineReviewColumnsPresent(pool);
  log('starting worker', {
    temporal: config.temporalAddress,
    taskQueue: config.taskQueue,
    inference: config.inferenceUrl,
    quarantineReviewColumns: reviewColumns,
    metrics: config.metricsPort > 0 ? `http://${config.metricsHost}:${config.metricsPort}/metrics` : 'off',
    fraudScoring: config.fraudScoring,
  });
  running = await startWorker(config, { pool });
  log('worker polling', {
    taskQueue: config.lanes.payments ? config.taskQueue : 'off',
    reviewTaskQueue: config.lanes.reviews ? config.review.taskQueue : 'off',
    nice,
  });
  const started = running;
  const stop = () => {
    log('stopping worker');
    void started.shutdown();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // Started by a launcher in a session of its own: stop with it, also when it is SIGKILLed (@pep/contracts/parent).
  exitWithParent({ onParentGone: () => log('launcher gone: stopping worker') });
  await started.done;
  await pool.end();
  if (metricsServer) {
    const server = metricsServer;
    await new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  }
  log('worker stopped');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === (await import('node:path')).resolve(process.argv[1])) {
  main().catch((err: unknown) => {
    createLogger('error', { service: 'payment-worker' }).error('worker failed', {
      error: (err as Error).stack ?? String(err),
    });
    process.exit(1);
  });
}
