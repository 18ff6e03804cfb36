/**
 * PaymentBatchWorkflow (the bridge's batch mode) against the real services: events of a redelivered batch cut at
 * different offsets are claimed once, a duplicate inside one batch is processed once, an event already stored by a
 * per-event workflow is not processed again, a failing batch step re-drives the batch's events one workflow each (a bad
 * event fails alone and visibly, the good ones are stored) and fails the batch visibly, and the batch stores the same
 * rows as the per-event workflow would (churn sees the batch's own earlier events).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { paymentBatchWorkflowId, paymentWorkflowId } from '@pep/contracts';
import { reconcileWorkflows } from '@pep/pipeline/reconcile/workflows';
import { ApplicationFailure, type Client, WorkflowFailedError } from '@temporalio/client';
import type pg from 'pg';
import type { FallbackOutcome, PaymentBatchResult } from '../src/types.ts';
import {
  addr,
  createTopics,
  deleteTopics,
  failureOf,
  kafka,
  rowsFor,
  testBridge,
  unifiedEvent,
  uniq,
  waitFor,
  workerEnvironment,
} from './helpers.ts';

let failFraudFor = '';
// Fraud scoring fails for any request that mentions the event id in failFraudFor (batch or single).
const env = workerEnvironment('wf-batch', async (path, req) =>
  path.startsWith('/fraud/score') && failFraudFor !== '' && (await req.text()).includes(failFraudFor)
    ? new Response('{}', { status: 503 })
    : undefined,
);
const { taskQueue } = env;
let pool: pg.Pool;
let client: Client;

const statusOf = (r: PaymentBatchResult) => Object.fromEntries(r.results.map((x) => [x.event_id, x.status]));

describe('batch workflow', () => {
  before(() => {
    ({ pool, client } = env);
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

  it('stores the same decisions as the per-event path, churn included', async () => {
    const customer = uniq('cus_batch');
    const evs = [0, 1, 2, 3].map((i) =>
      unifiedEvent('stripe', {
        customer_id: customer,
        status: i === 0 ? 'succeeded' : 'failed',
        event_type: i === 0 ? 'payment.succeeded' : 'payment.failed',
        failure_code: i === 0 ? null : 'card_declined',
        provider_created_at: new Date(Date.UTC(2026, 0, 1 + i * 20)).toISOString(),
      }),
    );
    const r = (await client.workflow.execute('PaymentBatchWorkflow', {
      taskQueue,
      workflowId: uniq('payment-batch'),
      args: [{ events: evs, activityMode: 'local' }],
    })) as PaymentBatchResult;
    const last = r.results[3] as { churn_risk_level: string; retry_strategy: { action: string } };
    assert.equal(last.churn_risk_level, 'critical');
    assert.equal(last.retry_strategy.action, 'do_not_retry');
    const [row] = await rowsFor(pool, evs[3]?.event_id as string);
    assert.equal(row.churn_features.consecutive_failures, 3);
    assert.equal(row.retry_strategy.attempt_count, 1);
    assert.equal((r.results[0] as { risk_level: string }).risk_level, 'low');
  });

  it('through the bridge in its default batch mode: redelivered events give one row each', async () => {
    const k = kafka();
    const topic = uniq('t.normalized-batch');
    await createTopics(k, [topic], 3);
    const bridge = testBridge(client, {
      TEMPORAL_TASK_QUEUE: taskQueue,
      BRIDGE_NORMALIZED_TOPIC: topic,
      BRIDGE_GROUP_ID: uniq('bridge-batch'),
    });
    const producer = k.producer({ idempotent: true });
    try {
      await producer.connect();
      await bridge.start();
      const events = Array.from({ length: 30 }, () => unifiedEvent('stripe'));
      const send = (es: Record<string, unknown>[]) =>
        producer.send({
          topic,
          acks: -1,
          messages: es.map((e) => ({ key: e.event_id as string, value: JSON.stringify(e) })),
        });
      await send([...events, ...events.slice(0, 5)]);
      const ids = events.map((e) => e.event_id as string);
      const count = async () =>
        Number(
          (await pool.query('SELECT count(*) AS n FROM payment_events WHERE event_id = ANY($1)', [ids])).rows[0].n,
        );
      // on a timeout, say how far the events got (a CI run once timed out here with nothing logged)
      await waitFor('30 rows', async () => (await count()) === 30).catch(async (err: Error) => {
        const m = bridge.metrics;
        throw new Error(
          `${err.message}: ${await count()} rows; bridge consumed ${m.consumed.get({ topic })}, batch workflows started ${m.started.get({ type: 'PaymentBatchWorkflow' })}, start errors ${m.startErrors.get({ topic })}, committed ${m.committed.get({ topic })}`,
        );
      });
      await send(events.slice(10, 20));
      await waitFor('the redelivery to be consumed', async () => bridge.metrics.committed.get({ topic }) >= 45);
      assert.equal(await count(), 30);
      const { rows } = await pool.query(
        'SELECT count(DISTINCT workflow_id) AS n FROM payment_events WHERE event_id = ANY($1)',
        [ids],
      );
      assert.ok(Number(rows[0].n) >= 1);
    } finally {
      await bridge.stop();
      await producer.disconnect();
      await deleteTopics(k, [topic]);
    }
  });

  it('a per-event workflow does not process again an event a batch claimed', async () => {
    const e = unifiedEvent('braintree', { status: 'settled', event_type: 'payment.settled' });
    await client.workflow.execute('PaymentBatchWorkflow', {
      taskQueue,
      workflowId: uniq('payment-batch'),
      args: [{ events: [e], activityMode: 'local' }],
    });
    const r = (await client.workflow.execute('PaymentEventWorkflow', {
      taskQueue,
      workflowId: paymentWorkflowId(e.event_id as string),
      args: [{ event: e, activityMode: 'local' }],
    })) as { status: string };
    assert.equal(r.status, 'duplicate');
    assert.equal((await rowsFor(pool, e.event_id as string)).length, 1);
  });

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

  it('a failed batch step: its events are re-driven one workflow each, the bad one fails visibly alone', async () => {
    const good = [
      unifiedEvent('stripe', { status: 'failed', event_type: 'payment.failed', failure_code: 'timeout' }),
      unifiedEvent('stripe'),
      unifiedEvent('square', { status: 'completed', event_type: 'payment.updated' }),
    ];
    const bad = unifiedEvent('adyen', { status: 'authorized', event_type: 'payment.authorized' });
    const claimedElsewhere = unifiedEvent('stripe');
    const ids = [...good, bad, claimedElsewhere].map((e) => e.event_id as string);
    // Named as the bridge names batches cut from a topic, so that reconciliation of that topic finds it.
    const topic = uniq('t.normalized-fallback');
    const batchId = paymentBatchWorkflowId(topic, 0, '0', '4');
    await pool.query('INSERT INTO payment_event_claims (event_id, workflow_id) VALUES ($1, $2)', [
      claimedElsewhere.event_id,
      'someone-else',
    ]);
    failFraudFor = bad.event_id as string;
    try {
      const err = await failureOf(
        client.workflow.execute('PaymentBatchWorkflow', {
          taskQueue,
          workflowId: batchId,
          args: [
            {
              events: [good[0], bad, good[1], claimedElsewhere, good[2]],
              activityMode: 'local',
              policies: { scoring: { maximumAttempts: 2, initialIntervalMs: 50, maximumIntervalMs: 50 } },
            },
          ],
        }),
        'the batch must fail',
      );
      // The batch itself fails visibly, naming the failed step and what became of each event.
      assert.ok(err instanceof WorkflowFailedError);
      const failure = err.cause as ApplicationFailure;
      assert.ok(failure instanceof ApplicationFailure, String(failure));
      assert.equal(failure.type, 'BatchStepFailed');
      assert.match(failure.message, /fraud\/score\/batch answered 503/);
      assert.match(failure.message, /4 events re-driven one workflow each: 3 processed, 0 rejected, 0 duplicate/);
      assert.match(failure.message, new RegExp(`1 failed \\(payment-${bad.event_id}\\)`));
      const outcomes = failure.details?.[0] as FallbackOutcome[];
      assert.deepEqual(
        outcomes.map((o) => [o.event_id, o.status]),
        [
          [good[0]?.event_id, 'processed'],
          [bad.event_id, 'failed'],
          [good[1]?.event_id, 'processed'],
          [good[2]?.event_id, 'processed'],
        ],
      );

      // The good events are stored by their own workflows; the bad one is not stored and its workflow failed.
      for (const e of good) {
        const [row] = await rowsFor(pool, e.event_id as string);
        assert.equal(row?.workflow_id, paymentWorkflowId(e.event_id as string));
      }
      assert.equal((await rowsFor(pool, bad.event_id as string)).length, 0);
      const badDesc = await client.workflow.getHandle(paymentWorkflowId(bad.event_id as string)).describe();
      assert.equal(badDesc.status.name, 'FAILED');
      // Claims moved to the per-event workflows; the one held by someone else stayed.
      const { rows: claims } = await pool.query(
        'SELECT event_id, workflow_id FROM payment_event_claims WHERE event_id = ANY($1) ORDER BY event_id',
        [ids],
      );
      for (const c of claims) {
        assert.equal(
          c.workflow_id,
          c.event_id === claimedElsewhere.event_id ? 'someone-else' : paymentWorkflowId(c.event_id),
        );
      }
      assert.equal(claims.length, 5);

      // Reconciliation sees it: the failed batch lost nothing, the failed per-event workflow left one event.
      const seen = new Map(ids.slice(0, 4).map((id) => [id, Date.now() - 60_000]));
      const { stage, checks } = await reconcileWorkflows(seen, topic, pool, {
        temporalAddress: addr.temporalAddress,
        namespace: 'default',
        taskQueue,
        since: null,
      });
      assert.deepEqual(stage.workflows.batch, { completed: 0, failed: 1, running: 0, other: 0 });
      assert.deepEqual(stage.workflows.per_event, { completed: 3, failed: 1, running: 0, other: 0 });
      assert.equal(stage.rows.total, 3);
      assert.deepEqual(stage.missing_examples, [bad.event_id]);
      const fw = Object.fromEntries(stage.failed_workflows.map((f) => [f.workflow_id, f.events_without_row]));
      assert.deepEqual(fw, { [batchId]: 0, [paymentWorkflowId(bad.event_id as string)]: 1 });
      assert.deepEqual(
        checks.filter((c) => !c.ok).map((c) => c.name),
        ['every normalized event has a payment_events row', 'no failed workflow left an event unprocessed'],
      );
    } finally {
      failFraudFor = '';
      await pool.query('DELETE FROM payment_event_claims WHERE event_id = $1', [claimedElsewhere.event_id]);
    }
  });
});
