/**
 * The three entry points `npm start` launches, as real processes: ml/src/server.ts, workflows/src/worker.ts and
 * pipeline/src/bridge/main.ts. Events produced to a private normalized topic end as rows, the bridge serves its
 * metrics (lag included), the worker scores fraud in its own process (the default `WORKER_FRAUD_SCORING`) and serves
 * the scorer's `inference_*` metrics and Temporal's runtime metrics on its one port, and SIGTERM stops each process
 * cleanly (exit 0).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '@pep/stack/ports';
import type pg from 'pg';
import { createTopics, deleteTopics, kafka, setupDb, unifiedEvent, uniq, waitFor } from './helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const children: { name: string; child: ChildProcess; out: string[] }[] = [];

function start(name: string, entry: string, env: NodeJS.ProcessEnv, readyText: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  children.push({ name, child, out });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready: ${out.join('')}`)), 60_000);
    const onData = (d: Buffer) => {
      out.push(d.toString());
      if (out.join('').includes(readyText)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => out.push(d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}: ${out.join('')}`));
    });
  });
}

function stop(child: ChildProcess): Promise<number | null> {
  child.removeAllListeners('exit');
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

describe('npm start entry points as processes', () => {
  const k = kafka();
  const topics = [uniq('t.normalized-proc'), uniq('t.validation-dlq-proc')];
  let pool: pg.Pool;
  after(async () => {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    await deleteTopics(k, topics);
    await pool?.end();
  });

  it('turns normalized events into rows and stops cleanly on SIGTERM', async () => {
    pool = await setupDb();
    await createTopics(k, topics, 1);
    const taken = new Set<number>();
    const [inferencePort, metricsPort, workerMetricsPort] = [
      await freePort(taken),
      await freePort(taken),
      await freePort(taken),
    ];
    const taskQueue = uniq('wf-proc');
    const env = {
      ...process.env,
      INFERENCE_PORT: String(inferencePort),
      INFERENCE_URL: `http://127.0.0.1:${inferencePort}`,
      TEMPORAL_TASK_QUEUE: taskQueue,
      BRIDGE_NORMALIZED_TOPIC: topics[0],
      BRIDGE_VALIDATION_DLQ_TOPIC: topics[1],
      BRIDGE_GROUP_ID: uniq('bridge-proc'),
      BRIDGE_REVIEW_GROUP_ID: uniq('bridge-proc-review'),
      BRIDGE_METRICS_PORT: String(metricsPort),
      BRIDGE_LAG_INTERVAL_MS: '200',
      WORKER_METRICS_PORT: String(workerMetricsPort),
      // No champion under this prefix: the in-process scorer answers with the rules (rules-v2, flagged), as the
      // service would; the default scoring mode, whatever the caller's environment says.
      ML_REGISTRY_PREFIX: `${uniq('proc')}-`,
      WORKER_FRAUD_SCORING: undefined,
    };
    const ml = await start('inference', 'ml/src/server.ts', env, 'inference service listening');
    const worker = await start('worker', 'workflows/src/worker.ts', env, 'worker polling');
    const bridge = await start('bridge', 'pipeline/src/bridge/main.ts', env, 'bridge running');
    const events = [unifiedEvent('stripe'), unifiedEvent('adyen', { status: 'authorized' }), unifiedEvent('braintree')];
    const producer = k.producer({ idempotent: true });
    await producer.connect();
    await producer.send({
      topic: topics[0] as string,
      acks: -1,
      messages: events.map((e) => ({ key: e.event_id as string, value: JSON.stringify(e) })),
    });
    await producer.disconnect();
    const ids = events.map((e) => e.event_id as string);
    await waitFor('3 rows', async () => {
      const { rows } = await pool.query('SELECT count(*)::int AS n FROM payment_events WHERE event_id = ANY($1)', [
        ids,
      ]);
      return rows[0].n === 3;
    });
    const metrics = await waitFor('lag 0 in the metrics', async () => {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      return /bridge_consumer_lag\{[^}]*\} 0/.test(text) ? text : undefined;
    });
    // Three events in one small fetch: the adaptive bridge starts one workflow per event.
    assert.match(metrics, /bridge_workflows_started_total\{type="PaymentEventWorkflow"\} 3/);
    // The SDK exports its counters periodically: the row can be written before the counter shows up.
    const completed = /temporal_workflow_completed_total\{[^}]*workflow_type="PaymentEventWorkflow"/;
    const workerMetrics = await waitFor('workflow completions in the worker metrics', async () => {
      const text = await (await fetch(`http://127.0.0.1:${workerMetricsPort}/metrics`)).text();
      return completed.test(text) ? text : undefined;
    });
    assert.match(workerMetrics, completed);
    // Fraud was scored in the worker (the in-process scorer's registry counts only its own batches).
    assert.match(workerMetrics, /^inference_batch_size_count\{model="fraud"\} [1-9]\d*$/m);
    assert.match(workerMetrics, /^worker_temporal_metrics_up 1$/m);
    const headers = [...workerMetrics.matchAll(/^# (?:HELP|TYPE) \S+/gm)].map((m) => m[0]);
    assert.deepEqual(
      headers.filter((h, i) => headers.indexOf(h) !== i),
      [],
      'every metric family once',
    );
    assert.equal(await stop(bridge), 0, 'bridge exits 0');
    assert.equal(await stop(worker), 0, 'worker exits 0');
    assert.equal(await stop(ml), 0, 'inference exits 0');
  });
});
