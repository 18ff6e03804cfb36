/**
 * Shared setup of the workflow integration tests: real Temporal dev server, PostgreSQL and Kafka from the local
 * stack, the real inference app (optionally behind a gate that can delay or fail a route), an in-process worker on
 * a unique task queue, unique topics. Every name carries a run id so the suites can run repeatedly.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { after, before } from 'node:test';
import { serve } from '@hono/node-server';
import { serviceAddresses } from '@pep/contracts';
import { silentLogger } from '@pep/contracts/log';
import { Registry } from '@pep/contracts/metrics';
import { createTopicsAndWait } from '@pep/kafka-wire/admin';
import { createApp } from '@pep/ml/app';
import { WorkflowBridge } from '@pep/pipeline/bridge';
import { loadBridgeConfig } from '@pep/pipeline/bridge/config';
import { createKafka } from '@pep/pipeline/kafka';
import { migrate as migratePipeline } from '@pep/pipeline/migrate';
import { Client, Connection } from '@temporalio/client';
import '@pep/contracts/kafkajs-read-committed';
import { Kafka, logLevel } from 'kafkajs';
import type pg from 'pg';
import { loadWorkerConfig } from '../src/config.ts';
import { createPool, migrate } from '../src/db.ts';
import { type RunningWorker, startWorker } from '../src/worker.ts';

export const addr = serviceAddresses();
export const runId = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
export const uniq = (prefix: string) => `${prefix}-${runId}-${randomBytes(2).toString('hex')}`;

/** `req` is a clone: the hook may read its body. */
export type RouteHook = (path: string, req: Request) => Promise<Response | undefined>;

/** The real inference app on a free port; `hook` may answer a request itself (fail it, delay it) first. */
export async function startInference(hook?: RouteHook): Promise<{ url: string; close: () => Promise<void> }> {
  const app = createApp();
  return new Promise((resolve) => {
    const server = serve(
      {
        hostname: '127.0.0.1',
        port: 0,
        fetch: async (req: Request) => (await hook?.(new URL(req.url).pathname, req.clone())) ?? app.fetch(req),
      },
      (info: AddressInfo) =>
        resolve({
          url: `http://127.0.0.1:${info.port}`,
          close: () =>
            new Promise<void>((r) => {
              (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
              server.close(() => r());
            }),
        }),
    );
  });
}

/** Both migration sets: the workflows' tables and the pipeline's quarantine tables the review activities update. */
export async function setupDb(): Promise<pg.Pool> {
  await migratePipeline({ databaseUrl: addr.databaseUrl });
  await migrate(addr.databaseUrl);
  return createPool(addr.databaseUrl, 5);
}

export async function temporalClient(): Promise<{ client: Client; close: () => Promise<void> }> {
  const connection = await Connection.connect({ address: addr.temporalAddress });
  return { client: new Client({ connection }), close: () => connection.close() };
}

/** The review task queue that goes with a test's payment task queue (each suite's own, like the payment queue). */
export const reviewQueueOf = (taskQueue: string) => `${taskQueue}-review`;

export function workerEnv(taskQueue: string, inferenceUrl: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TEMPORAL_TASK_QUEUE: taskQueue,
    REVIEW_TASK_QUEUE: reviewQueueOf(taskQueue),
    INFERENCE_URL: inferenceUrl,
    INFERENCE_TIMEOUT_MS: '5000',
    // These suites fake or gate the inference service over HTTP (startInference's hook): fraud must go there too.
    WORKER_FRAUD_SCORING: 'http',
  };
}

export async function startTestWorker(taskQueue: string, inferenceUrl: string, pool?: pg.Pool): Promise<RunningWorker> {
  return startWorker(loadWorkerConfig(workerEnv(taskQueue, inferenceUrl)), pool ? { pool } : {});
}

export function kafka(): Kafka {
  return new Kafka({ clientId: `wf-test-${runId}`, brokers: [...addr.kafkaBrokers], logLevel: logLevel.NOTHING });
}

export async function createTopics(k: Kafka, topics: readonly string[], partitions = 1): Promise<void> {
  const admin = k.admin();
  await admin.connect();
  try {
    await createTopicsAndWait(
      admin,
      topics.map((topic) => ({ topic, numPartitions: partitions })),
    );
  } finally {
    await admin.disconnect();
  }
}

export async function deleteTopics(k: Kafka, topics: readonly string[]): Promise<void> {
  const admin = k.admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [...topics] }).catch(() => {});
  } finally {
    await admin.disconnect();
  }
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A unified event (CONTRACT section 6) for `provider` with unique ids. */
export function unifiedEvent(provider: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  const id = uniq('evt').replace(/-/g, '');
  const now = new Date().toISOString();
  return {
    event_id: `${provider}:${id}`,
    provider,
    provider_event_id: id,
    object_id: `obj_${id}`,
    event_type: 'payment.succeeded',
    merchant_id: `merch_${runId}`,
    customer_id: `cus_${id}`,
    amount_minor: 2500,
    currency: 'USD',
    payment_method_type: 'card',
    card_brand: 'visa',
    card_last_four: '4242',
    status: 'succeeded',
    failure_code: null,
    failure_message: null,
    metadata: {},
    provider_created_at: now,
    received_at: now,
    normalized_at: now,
    schema_version: 1,
    ...over,
  };
}

export async function rowsFor(pool: pg.Pool, eventId: string) {
  const { rows } = await pool.query('SELECT * FROM payment_events WHERE event_id = $1', [eventId]);
  return rows;
}

/** What workerEnvironment sets up; the fields are assigned in its before hook. */
export interface WorkerEnvironment {
  readonly taskQueue: string;
  pool: pg.Pool;
  inference: Awaited<ReturnType<typeof startInference>>;
  worker: RunningWorker;
  client: Client;
}

/**
 * Registers before/after hooks (at the caller's level) for the usual suite setup: a migrated pool, the real inference
 * app (behind `hook` when given), an in-process worker on a unique task queue `<tag>-…`, and a Temporal client.
 * Hooks registered after this call run after its before and before its after.
 */
export function workerEnvironment(tag: string, hook?: RouteHook): WorkerEnvironment {
  const env = { taskQueue: uniq(tag) } as WorkerEnvironment;
  let temporal: Awaited<ReturnType<typeof temporalClient>> | undefined;
  before(async () => {
    env.pool = await setupDb();
    env.inference = await startInference(hook);
    env.worker = await startTestWorker(env.taskQueue, env.inference.url, env.pool);
    temporal = await temporalClient();
    env.client = temporal.client;
  });
  after(async () => {
    await env.worker?.shutdown();
    await env.inference?.close();
    await temporal?.close();
    await env.pool?.end();
  });
  return env;
}

/** A bridge for tests: silent, no metrics server, reviews off unless `vars` says otherwise. Not started. */
export function testBridge(client: Client, vars: Record<string, string>, clientId = 'wf-test-bridge'): WorkflowBridge {
  return new WorkflowBridge({
    config: loadBridgeConfig({
      ...process.env,
      BRIDGE_REVIEWS: 'false',
      BRIDGE_METRICS_PORT: '0',
      ...(vars.TEMPORAL_TASK_QUEUE ? { REVIEW_TASK_QUEUE: reviewQueueOf(vars.TEMPORAL_TASK_QUEUE) } : {}),
      ...vars,
    }),
    kafka: createKafka({ brokers: addr.kafkaBrokers, clientId, log: silentLogger }),
    temporal: client,
    log: silentLogger,
    registry: new Registry(),
  });
}

/** The error `p` rejects with; fails the test when it resolves. */
export function failureOf(p: Promise<unknown>, what = 'the workflow must fail'): Promise<unknown> {
  return p.then(
    () => assert.fail(what),
    (err: unknown) => err,
  );
}
