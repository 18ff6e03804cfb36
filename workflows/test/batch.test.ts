/**
 * PaymentBatchWorkflow (the bridge's batch mode) against the real services: events of a redelivered batch cut at
 * different offsets are claimed once, a duplicate inside one batch is processed once, an event already stored by a
 * per-event workflow is not processed again, and a failing event fails the batch visibly while the others are stored.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { paymentWorkflowId } from '@pep/contracts';
import { type Client, WorkflowFailedError } from '@temporalio/client';
import type pg from 'pg';
import type { PaymentBatchResult } from '../src/types.ts';
import type { RunningWorker } from '../src/worker.ts';
import { rowsFor, setupDb, startInference, startTestWorker, temporalClient, unifiedEvent, uniq } from './helpers.ts';

const taskQueue = uniq('wf-batch');
let pool: pg.Pool;
let inference: Awaited<ReturnType<typeof startInference>>;
let worker: RunningWorker;
let temporal: Awaited<ReturnType<typeof temporalClient>>;
let client: Client;
let failFraudFor = '';

const statusOf = (r: PaymentBatchResult) => Object.fromEntries(r.results.map((x) => [x.event_id, x.status]));

describe('batch workflow', () => {
  before(async () => {
    pool = await setupDb();
    inference = await startInference(async (path) =>
      path === '/fraud/score' && failFraudFor !== '' ? new Response('{}', { status: 503 }) : undefined,
    );
    worker = await startTestWorker(taskQueue, inference.url, pool);
    temporal = await temporalClient();
    client = temporal.client;
  });
  after(async () => {
    await worker?.shutdown();
    await inference?.close();
    await temporal?.close();
    await pool?.end();
  });

  for (const activityMode of ['local', 'remote'] as const) {
    it(`claims each event once across differently cut batches (${activityMode} activities)`, async () => {
      const [a, b, c, d] = [1, 2, 3, 4].map(() => unifiedEvent('stripe'));
      const run = (events: unknown[]) =>
        client.workflow.execute('PaymentBatchWorkflow', {
          taskQueue,
          workflowId: uniq('payment-batch'),
          args: [{ events, activityMode }],
        }) as Promise<PaymentBatchResult>;
      const first = await run([a, b, c, b]);
      const second = await run([b, c, d]);
      const ids = [a, b, c, d].map((e) => e?.event_id as string);
      assert.deepEqual(
        first.results.map((x) => x.status),
        ['processed', 'processed', 'processed', 'duplicate'],
      );
      assert.deepEqual(statusOf(second), {
        [ids[1] as string]: 'duplicate',
        [ids[2] as string]: 'duplicate',
        [ids[3] as string]: 'processed',
      });
      for (const id of ids) assert.equal((await rowsFor(pool, id)).length, 1, id);
    });
  }

  it('does not process again an event stored by a per-event workflow', async () => {
    const e = unifiedEvent('square', { status: 'completed', event_type: 'payment.updated' });
    await client.workflow.execute('PaymentEventWorkflow', {
      taskQueue,
      workflowId: paymentWorkflowId(e.event_id as string),
      args: [{ event: e }],
    });
    const r = (await client.workflow.execute('PaymentBatchWorkflow', {
      taskQueue,
      workflowId: uniq('payment-batch'),
      args: [{ events: [e], activityMode: 'local' }],
    })) as PaymentBatchResult;
    assert.equal(r.results[0]?.status, 'duplicate');
  });

  it('fails the batch visibly when one event keeps failing, and stores the others', async () => {
    const ok = unifiedEvent('stripe', { status: 'failed', event_type: 'payment.failed', failure_code: 'timeout' });
    const bad = unifiedEvent('adyen', { status: 'authorized', event_type: 'payment.authorized' });
    failFraudFor = bad.event_id as string;
    try {
      const err = await client.workflow
        .execute('PaymentBatchWorkflow', {
          taskQueue,
          workflowId: uniq('payment-batch'),
          args: [
            {
              events: [ok, bad],
              activityMode: 'local',
              policies: { scoring: { maximumAttempts: 2, initialIntervalMs: 50, maximumIntervalMs: 50 } },
            },
          ],
        })
        .then(
          () => assert.fail('the batch must fail'),
          (x: unknown) => x,
        );
      assert.ok(err instanceof WorkflowFailedError);
      assert.match(String(err.cause?.message), new RegExp(`1 of 2 events failed: ${bad.event_id}`));
      assert.equal((await rowsFor(pool, ok.event_id as string)).length, 1);
      assert.equal((await rowsFor(pool, bad.event_id as string)).length, 0);
    } finally {
      failFraudFor = '';
    }
  });
});
