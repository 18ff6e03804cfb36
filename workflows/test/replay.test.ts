/**
 * Determinism: histories recorded from real runs are replayed against the current workflow code with
 * Worker.runReplayHistories. Two sets: histories produced by this run (every branch: processed, failed payment,
 * rejection, local activities, batches, a batch's per-event fallback, review decision, review expiry) and the committed histories in test/histories/,
 * recorded from earlier code, which catch a change that breaks workflows already in flight.
 * `RECORD_HISTORIES=1` adds histories of this run whose names are not committed yet to test/histories/. Histories are stored as protobuf binary (`.binpb`):
 * the SDK's JSON helpers fail in this install (two protobufjs copies), the binary codec has no such dependency.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { paymentWorkflowId, REVIEW_SIGNAL } from '@pep/contracts';
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import type pg from 'pg';
import type { RunningWorker } from '../src/worker.ts';
import { WORKFLOWS_PATH } from '../src/worker.ts';
import { failureOf, setupDb, startInference, startTestWorker, temporalClient, unifiedEvent, uniq } from './helpers.ts';

const { History } = proto.temporal.api.history.v1;
const HISTORY_DIR = fileURLToPath(new URL('./histories/', import.meta.url));
type History = Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>;

let pool: pg.Pool;
let inference: Awaited<ReturnType<typeof startInference>>;
let worker: RunningWorker;
let temporal: Awaited<ReturnType<typeof temporalClient>>;
const taskQueue = uniq('wf-replay');
const recorded: { name: string; workflowId: string; history: History }[] = [];
let failBatchScoring = false;

async function replay(histories: { workflowId: string; history: unknown }[]) {
  const results = Worker.runReplayHistories({ workflowsPath: WORKFLOWS_PATH, replayName: 'replay-test' }, histories);
  const failures: string[] = [];
  let n = 0;
  for await (const r of results) {
    n++;
    if (r.error) failures.push(`${r.workflowId}: ${r.error.message}`);
  }
  return { n, failures };
}

describe('replay of recorded histories', () => {
  before(async () => {
    pool = await setupDb();
    // Batch scoring can be made to fail, so that a batch takes its per-event fallback.
    inference = await startInference(async (path) =>
      path === '/fraud/score/batch' && failBatchScoring ? new Response('{}', { status: 503 }) : undefined,
    );
    worker = await startTestWorker(taskQueue, inference.url, pool);
    temporal = await temporalClient();
    const client = temporal.client;
    const runPayment = async (name: string, event: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
      const workflowId = paymentWorkflowId(event.event_id as string);
      await client.workflow.execute('PaymentEventWorkflow', { taskQueue, workflowId, args: [{ event, ...extra }] });
      recorded.push({ name, workflowId, history: await client.workflow.getHandle(workflowId).fetchHistory() });
    };
    await runPayment('payment-processed', unifiedEvent('stripe'));
    await runPayment('payment-processed-with-claim', unifiedEvent('square', { status: 'completed' }));
    await runPayment(
      'payment-failed',
      unifiedEvent('stripe', { status: 'failed', event_type: 'payment.failed', failure_code: 'card_declined' }),
    );
    await runPayment('payment-rejected', unifiedEvent('square', { currency: 'XAU' }));
    await runPayment('payment-local', unifiedEvent('adyen', { status: 'authorized' }), { activityMode: 'local' });
    // The single-local-activity form (patch payment-event-one-activity; `payment-local` was recorded before it), a
    // rejection included so the stored-as-failed branch of the one activity replays too.
    await runPayment('payment-local-one-activity', unifiedEvent('stripe'), { activityMode: 'local' });
    await runPayment('payment-local-one-activity-rejected', unifiedEvent('square', { currency: 'XAU' }), {
      activityMode: 'local',
    });
    const review = async (name: string, signal: boolean) => {
      const workflowId = uniq('dlq-review-replay');
      const h = await client.workflow.start('DlqReviewWorkflow', {
        taskQueue,
        workflowId,
        args: [
          {
            record: {
              source_topic: 'webhooks.stripe.charge',
              kafka_partition: 0,
              kafka_offset: 1,
              original_payload: '{}',
            },
            dlq: { topic: 'payments.validation.dlq', partition: 0, offset: '1' },
            reviewTimeoutMs: signal ? 60_000 : 500,
          },
        ],
      });
      if (signal) await h.signal(REVIEW_SIGNAL, { decision: 'discard', reviewer: 'replay' });
      await h.result();
      recorded.push({ name, workflowId, history: await h.fetchHistory() });
    };
    const batchId = uniq('payment-batch-replay');
    await client.workflow.execute('PaymentBatchWorkflow', {
      taskQueue,
      workflowId: batchId,
      args: [
        { events: [unifiedEvent('stripe'), unifiedEvent('braintree', { status: 'settled' })], activityMode: 'local' },
      ],
    });
    recorded.push({
      name: 'payment-batch-one-activity',
      workflowId: batchId,
      history: await client.workflow.getHandle(batchId).fetchHistory(),
    });
    // A per-event workflow for an event a batch already stored: the claim says duplicate.
    const claimed = unifiedEvent('stripe');
    await client.workflow.execute('PaymentBatchWorkflow', {
      taskQueue,
      workflowId: uniq('payment-batch-replay'),
      args: [{ events: [claimed], activityMode: 'local' }],
    });
    await runPayment('payment-duplicate', claimed);
    // A batch whose scoring step fails: its events are re-driven as child workflows and the batch fails.
    const fallbackId = uniq('payment-batch-replay');
    failBatchScoring = true;
    try {
      await failureOf(
        client.workflow.execute('PaymentBatchWorkflow', {
          taskQueue,
          workflowId: fallbackId,
          args: [
            {
              events: [unifiedEvent('stripe'), unifiedEvent('adyen', { status: 'authorized' })],
              activityMode: 'local',
              policies: { scoring: { maximumAttempts: 2, initialIntervalMs: 50, maximumIntervalMs: 50 } },
            },
          ],
        }),
        'the batch must fail',
      );
    } finally {
      failBatchScoring = false;
    }
    recorded.push({
      name: 'payment-batch-one-activity-fallback',
      workflowId: fallbackId,
      history: await client.workflow.getHandle(fallbackId).fetchHistory(),
    });
    await review('review-discarded', true);
    await review('review-expired', false);
    if (process.env.RECORD_HISTORIES === '1') {
      mkdirSync(HISTORY_DIR, { recursive: true });
      // Only new names: the committed files stay as recorded from the code of their time.
      for (const r of recorded.filter((x) => !existsSync(join(HISTORY_DIR, `${x.name}.binpb`)))) {
        writeFileSync(join(HISTORY_DIR, `${r.name}.binpb`), History.encode(r.history).finish());
      }
    }
  });

  after(async () => {
    await worker?.shutdown();
    await inference?.close();
    await temporal?.close();
    await pool?.end();
  });

  it('replays the histories of this run against the current workflow code', async () => {
    const { n, failures } = await replay(recorded.map((r) => ({ workflowId: r.workflowId, history: r.history })));
    assert.equal(n, recorded.length);
    assert.deepEqual(failures, []);
  });

  it('replays the committed histories recorded from earlier code', async () => {
    const files = readdirSync(HISTORY_DIR).filter((f) => f.endsWith('.binpb'));
    assert.ok(files.length >= 6, 'committed histories exist (RECORD_HISTORIES=1 records them)');
    const histories = files.map((f) => ({
      workflowId: f.replace(/\.binpb$/, ''),
      history: History.decode(readFileSync(join(HISTORY_DIR, f))),
    }));
    const { n, failures } = await replay(histories);
    assert.equal(n, files.length);
    assert.deepEqual(failures, []);
  });

  it('detects nondeterminism: a history whose activity sequence differs from the code fails to replay', async () => {
    const processed = recorded.find((r) => r.name === 'payment-processed');
    assert.ok(processed);
    const copy = History.decode(History.encode(processed.history).finish());
    // Rename the first scheduled activity: the code schedules validateRules, the history now says otherwise.
    const scheduled = copy.events.find((e) => e.activityTaskScheduledEventAttributes);
    const attrs = scheduled?.activityTaskScheduledEventAttributes;
    assert.ok(attrs?.activityType);
    attrs.activityType.name = 'somethingElse';
    const { failures } = await replay([{ workflowId: processed.workflowId, history: copy }]);
    assert.equal(failures.length, 1);
  });
});
