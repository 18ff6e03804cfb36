/**
 * `npm run reconcile` with its workflow and row stage, end to end on private topics against the real stack:
 * simulated webhooks (all providers, invalid payloads, provider redeliveries, edge rejections) go through the real
 * transformer, quarantine consumer, bridge and worker; the reconcile CLI must then exit 0 with RECONCILED and count
 * one row per distinct normalized event_id written by a completed workflow. After one row is deleted, the same CLI
 * must exit 1 and name the failing check.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PROVIDERS } from '@pep/contracts';
import { silentLogger } from '@pep/contracts/log';
import { Registry } from '@pep/contracts/metrics';
import { loadCore } from '@pep/core-native';
import { WorkflowBridge } from '@pep/pipeline/bridge';
import { loadBridgeConfig } from '@pep/pipeline/bridge/config';
import { loadQuarantineConfig, loadTransformerConfig } from '@pep/pipeline/config';
import { createKafka } from '@pep/pipeline/kafka';
import { QuarantineConsumer } from '@pep/pipeline/quarantine';
import type { ReconcileReport } from '@pep/pipeline/reconcile';
import { privatePipeline, produce, readAll } from '@pep/pipeline/testing';
import { createTransformer, type WireTransformer } from '@pep/pipeline/transformer';
import { DeliveryGenerator, signingSecrets } from '@pep/simulator';
import type { Message } from 'kafkajs';
import type pg from 'pg';
import type { RunningWorker } from '../src/worker.ts';
import { addr, setupDb, startInference, startTestWorker, temporalClient, uniq, waitFor } from './helpers.ts';

const CLI = fileURLToPath(import.meta.resolve('@pep/pipeline/reconcile/cli'));
const DELIVERIES = 120;
const CATEGORIES = ['stripe.charge', 'square.payment', 'adyen.notification', 'braintree.notification'];
const p = privatePipeline(
  'wfrec',
  CATEGORIES.map((c) => `webhooks.${c}`),
);
const taskQueue = uniq('wf-reconcile');

const cliEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  TRANSFORMER_INPUT_TOPICS: p.raw.join(','),
  TRANSFORMER_NORMALIZED_TOPIC: p.normalized,
  TRANSFORMER_DLQ_TOPIC: p.validationDlq,
  TRANSFORMER_GROUP_ID: p.transformerGroup,
  QUARANTINE_WEBHOOK_DLQ_TOPIC: p.webhookDlq,
  QUARANTINE_VALIDATION_DLQ_TOPIC: p.validationDlq,
  QUARANTINE_GROUP_ID: p.quarantineGroup,
  TEMPORAL_TASK_QUEUE: taskQueue,
});

/** Runs the reconcile CLI as an operator would; returns its exit status and JSON report. */
function runCli(): Promise<{ code: number | null; report: ReconcileReport; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, '--json', '--no-edge'], {
      env: cliEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      try {
        resolve({ code, report: JSON.parse(out) as ReconcileReport, stderr: err });
      } catch {
        reject(new Error(`reconcile printed no JSON (exit ${code}): ${out.slice(0, 500)} ${err.slice(0, 500)}`));
      }
    });
  });
}

/** Raw topic per provider (the transformer reads all four; which Stripe/Square category does not matter here). */
function topicFor(provider: string): string {
  if (provider === 'stripe') return `${p.prefix}webhooks.stripe.charge`;
  if (provider === 'square') return `${p.prefix}webhooks.square.payment`;
  return `${p.prefix}webhooks.${provider}.notification`;
}

let worker: RunningWorker;
let inference: Awaited<ReturnType<typeof startInference>>;
let temporal: Awaited<ReturnType<typeof temporalClient>>;
let transformer: WireTransformer;
let quarantine: QuarantineConsumer;
let bridge: WorkflowBridge;
let eventIds: string[] = [];
let pool: pg.Pool;

after(async () => {
  await bridge?.stop();
  await transformer?.stop();
  await quarantine?.stop();
  await worker?.shutdown();
  await inference?.close();
  await temporal?.close();
  if (eventIds.length > 0) {
    await pool.query('DELETE FROM payment_event_claims WHERE event_id = ANY($1)', [eventIds]);
    await pool.query('DELETE FROM payment_events WHERE event_id = ANY($1)', [eventIds]);
  }
  await pool?.end();
});

test('reconcile counts workflows and rows: RECONCILED (exit 0), then a deleted row is NOT RECONCILED (exit 1)', async () => {
  // Set up here, not in a before hook: privatePipeline's hook runs the pipeline migrations, which must not overlap ours.
  pool = await setupDb();
  inference = await startInference();
  worker = await startTestWorker(taskQueue, inference.url, pool);
  temporal = await temporalClient();
  const gen = new DeliveryGenerator({
    seed: randomInt(1, 2 ** 31), // fresh event ids per run: the table is shared
    providers: PROVIDERS,
    invalidRate: 0.05,
    duplicateRate: 0.05,
    signatureFaultRate: 0.03,
    fraudRate: 1,
    customers: 30,
    merchantsPerProvider: 3,
    secrets: signingSecrets(),
  });
  const byTopic = new Map<string, Message[]>();
  const rejected: Message[] = [];
  let redelivered = false;
  for (let i = 0; i < DELIVERIES; i++) {
    const { delivery: d } = gen.next();
    const receivedAt = new Date().toISOString();
    if (d.expectedStatus !== 200) {
      rejected.push({
        key: null,
        value: JSON.stringify({ schema_version: 1, provider: d.provider, reason: 'invalid', body: d.body }),
      });
      continue;
    }
    const topic = topicFor(d.provider);
    const list = byTopic.get(topic) ?? [];
    const message = (at: string): Message => ({
      key: d.objectId || d.eventId,
      value: d.body,
      headers: { 'received-at': at, 'request-id': randomUUID(), provider: d.provider, 'event-id': d.eventId },
    });
    list.push(message(receivedAt));
    // The generator's redeliveries are random (5 %) and may all be of deliveries the pipeline quarantines: one valid
    // event is always redelivered too, so the run has a duplicate to count (it once had none: a flaky assertion).
    if (d.label === 'valid' && !redelivered) {
      list.push(message(new Date(Date.parse(receivedAt) + 1).toISOString()));
      redelivered = true;
    }
    byTopic.set(topic, list);
  }
  for (const [topic, list] of byTopic) await produce(p.kafka, topic, list);
  await produce(p.kafka, p.webhookDlq, rejected);

  transformer = createTransformer(
    loadTransformerConfig({ ...cliEnv(), TRANSFORMER_METRICS_PORT: '0' }),
    await loadCore({ impl: 'native' }),
    silentLogger,
  );
  quarantine = new QuarantineConsumer(
    loadQuarantineConfig({ ...cliEnv(), QUARANTINE_METRICS_PORT: '0' }),
    silentLogger,
  );
  bridge = new WorkflowBridge({
    config: loadBridgeConfig({
      ...process.env,
      TEMPORAL_TASK_QUEUE: taskQueue,
      BRIDGE_NORMALIZED_TOPIC: p.normalized,
      BRIDGE_VALIDATION_DLQ_TOPIC: p.validationDlq,
      BRIDGE_GROUP_ID: uniq('bridge-reconcile'),
      BRIDGE_REVIEWS: 'false',
      BRIDGE_METRICS_PORT: '0',
    }),
    kafka: createKafka({ brokers: addr.kafkaBrokers, clientId: 'wf-test-reconcile', log: silentLogger }),
    temporal: temporal.client,
    log: silentLogger,
    registry: new Registry(),
  });
  await transformer.start();
  await quarantine.start();
  await bridge.start();

  let last: ReconcileReport | null = null;
  const ok = await waitFor(
    'reconcile to exit 0',
    async () => {
      const r = await runCli();
      last = r.report;
      return r.code === 0 ? r : false;
    },
    120_000,
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; last checks: ${JSON.stringify(last?.checks)}`);
  });
  const w = ok.report.stages.workflows;
  assert.ok(w, 'the workflow stage is reported');
  const distinct = ok.report.stages.normalized.distinct_event_ids;
  assert.ok(distinct > 50, `enough events went through (${distinct})`);
  assert.ok(ok.report.stages.normalized.duplicate_event_ids > 0, 'provider redeliveries are part of the run');
  assert.equal(w.events, distinct);
  assert.equal(w.rows.total, distinct);
  assert.equal(w.rows.by_completed_workflow, distinct);
  assert.ok(w.workflows.per_event.completed + w.workflows.batch.completed > 0);
  assert.equal(w.workflows.per_event.failed + w.workflows.batch.failed, 0);
  assert.equal(ok.report.verdict, 'reconciled');

  // Break it: one row of this run vanishes.
  eventIds = [...new Set((await readAll(p.kafka, [p.normalized])).map((r) => r.key as string))];
  assert.equal(eventIds.length, distinct);
  const victim = eventIds[0] as string;
  await pool.query('DELETE FROM payment_events WHERE event_id = $1', [victim]);
  const broken = await runCli();
  assert.equal(broken.code, 1, 'exit 1 when a stage does not reconcile');
  assert.equal(broken.report.verdict, 'not_reconciled');
  const failing = broken.report.checks.filter((c) => !c.ok).map((c) => c.name);
  assert.deepEqual(failing, ['every normalized event has a payment_events row']);
  assert.equal(broken.report.stages.workflows?.events_missing, 1);
  assert.deepEqual(broken.report.stages.workflows?.missing_examples, [victim]);
});
