/**
 * End to end through the real services: Kafka topic → bridge → Temporal dev server → worker → inference → PostgreSQL.
 * Happy path for every provider, duplicate delivery, poison messages, business rejection and churn from history.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { paymentWorkflowId } from '@pep/contracts';
import type { WorkflowBridge } from '@pep/pipeline/bridge';
import type { Client } from '@temporalio/client';
import type { Kafka, Producer } from 'kafkajs';
import type pg from 'pg';
import type { PaymentEventResult } from '../src/types.ts';
import {
  createTopics,
  deleteTopics,
  kafka,
  rowsFor,
  testBridge,
  unifiedEvent,
  uniq,
  waitFor,
  workerEnvironment,
} from './helpers.ts';

const env = workerEnvironment('wf-path');
const { taskQueue } = env;
const normalizedTopic = uniq('t.normalized');
const dlqTopic = uniq('t.validation.dlq');
let pool: pg.Pool;
let client: Client;
let k: Kafka;
let producer: Producer;
let bridge: WorkflowBridge;

async function produce(events: readonly unknown[]): Promise<void> {
  await producer.send({
    topic: normalizedTopic,
    acks: -1,
    messages: events.map((e) => ({
      key: typeof e === 'object' && e ? String((e as { event_id?: string }).event_id ?? 'x') : 'x',
      value: typeof e === 'string' ? e : JSON.stringify(e),
    })),
  });
}

async function resultOf(eventId: string): Promise<PaymentEventResult> {
  const handle = await waitFor(`workflow ${eventId}`, async () => {
    try {
      const h = client.workflow.getHandle(paymentWorkflowId(eventId));
      await h.describe();
      return h;
    } catch {
      return undefined;
    }
  });
  return (await handle.result()) as PaymentEventResult;
}

describe('payment path through Kafka, the bridge and Temporal', () => {
  before(async () => {
    ({ pool, client } = env);
    k = kafka();
    await createTopics(k, [normalizedTopic], 3);
    await createTopics(k, [dlqTopic], 1);
    producer = k.producer({ idempotent: true });
    await producer.connect();
    bridge = testBridge(client, {
      TEMPORAL_TASK_QUEUE: taskQueue,
      BRIDGE_NORMALIZED_TOPIC: normalizedTopic,
      BRIDGE_VALIDATION_DLQ_TOPIC: dlqTopic,
      BRIDGE_GROUP_ID: uniq('bridge'),
      BRIDGE_LAG_INTERVAL_MS: '500',
      // One workflow per event with regular activities here; batch mode (the default) has its own test.
      BRIDGE_BATCH_SIZE: '1',
      BRIDGE_ACTIVITY_MODE: 'remote',
    });
    await bridge.start();
  });

  after(async () => {
    await bridge?.stop();
    await producer?.disconnect();
    await deleteTopics(k, [normalizedTopic, dlqTopic]);
  });

  it('processes a successful payment of every provider: scored, persisted once, model versions recorded', async () => {
    const events = [
      unifiedEvent('stripe'),
      unifiedEvent('square', { event_type: 'payment.updated', status: 'completed' }),
      unifiedEvent('adyen', { event_type: 'payment.authorized', status: 'authorized', currency: 'EUR' }),
      unifiedEvent('braintree', { event_type: 'payment.settled', status: 'settled', amount_minor: 1999 }),
    ];
    await produce(events);
    for (const e of events) {
      const id = e.event_id as string;
      const r = await resultOf(id);
      assert.equal(r.status, 'processed', id);
      assert.equal(r.outcome, 'succeeded', id);
      assert.equal(typeof r.fraud_score, 'number', id);
      const rows = await rowsFor(pool, id);
      assert.equal(rows.length, 1);
      assert.equal(rows[0].validation_status, 'passed');
      assert.equal(rows[0].fraud_model_version, 'rules-v1');
      assert.equal(rows[0].churn_model_version, 'rules-v1');
      assert.equal(rows[0].workflow_id, paymentWorkflowId(id));
      assert.equal(Number(rows[0].amount_minor), e.amount_minor);
    }
  });

  it('stores a failed payment with its retry strategy as JSON and a legitimate zero-amount check as passed', async () => {
    const failed = unifiedEvent('stripe', {
      event_type: 'payment.failed',
      status: 'failed',
      failure_code: 'processing_error',
      failure_message: 'The issuer could not process the payment at this time, try again later please',
    });
    const check = unifiedEvent('braintree', {
      event_type: 'check.verified',
      status: 'verified',
      amount_minor: 0,
      currency: null,
      customer_id: null,
    });
    await produce([failed, check]);
    const rf = await resultOf(failed.event_id as string);
    assert.equal(rf.outcome, 'failed');
    assert.equal(rf.retry_strategy?.action, 'retry_delayed');
    const [row] = await rowsFor(pool, failed.event_id as string);
    assert.equal(row.retry_strategy.action, 'retry_delayed');
    assert.equal(row.retry_delay_seconds, 60);
    assert.ok(JSON.stringify(row.retry_strategy).length > 50, 'the full strategy is kept, not truncated');
    const rc = await resultOf(check.event_id as string);
    assert.equal(rc.status, 'processed');
    assert.equal(rc.validation_status, 'passed');
    assert.equal((await rowsFor(pool, check.event_id as string))[0].validation_status, 'passed');
  });

  it('sends an invoice payment failure of any provider to the retry strategy, and every dispute down one path', async () => {
    const invoiceFailures = [
      unifiedEvent('stripe', { event_type: 'invoice.payment_failed', status: 'failed', failure_code: null }),
      unifiedEvent('square', { event_type: 'invoice.payment_failed', status: 'failed' }),
      unifiedEvent('braintree', { event_type: 'invoice.payment_failed', status: 'failed' }),
    ];
    const disputes = [
      unifiedEvent('stripe', { event_type: 'dispute.opened', status: 'warning_needs_response' }),
      unifiedEvent('square', { event_type: 'dispute.opened', status: 'evidence_required' }),
      unifiedEvent('adyen', { event_type: 'dispute.funds_withdrawn', status: 'failed', currency: 'EUR' }),
      unifiedEvent('braintree', { event_type: 'dispute.opened', status: 'disputed' }),
    ];
    await produce([...invoiceFailures, ...disputes]);
    for (const e of invoiceFailures) {
      const r = await resultOf(e.event_id as string);
      assert.equal(r.outcome, 'failed', e.event_id as string);
      assert.equal(typeof r.retry_strategy?.action, 'string', `${e.event_id} reaches the retry strategy`);
      assert.equal(r.fraud_score, null);
    }
    const paths = new Set<string>();
    for (const e of disputes) {
      const r = await resultOf(e.event_id as string);
      assert.equal(r.status, 'processed', e.event_id as string);
      paths.add(JSON.stringify([r.outcome, r.fraud_score === null, r.retry_strategy === null]));
      const [row] = await rowsFor(pool, e.event_id as string);
      assert.equal(row.event_type, e.event_type);
    }
    assert.deepEqual([...paths], [JSON.stringify(['other', true, true])], "one path for every provider's dispute");
  });

  it('gives one execution result and one row for duplicate deliveries, also after completion', async () => {
    const e = unifiedEvent('stripe');
    const id = e.event_id as string;
    await produce([e, e]);
    await resultOf(id);
    const before = bridge.metrics.duplicates.get({ type: 'PaymentEventWorkflow' });
    await produce([e]);
    await waitFor('the redelivery to be recognised', async () =>
      bridge.metrics.duplicates.get({ type: 'PaymentEventWorkflow' }) > before ? true : undefined,
    );
    assert.equal((await rowsFor(pool, id)).length, 1);
    const runs: string[] = [];
    for await (const wf of client.workflow.list({ query: `WorkflowId = '${paymentWorkflowId(id)}'` }))
      runs.push(wf.runId);
    assert.equal(runs.length, 1, 'the completed workflow did not run again');
  });

  it('sends a message that cannot start a workflow to the validation DLQ and moves on', async () => {
    const good = unifiedEvent('square', { event_type: 'payment.updated', status: 'completed' });
    await produce(['{not json', good]);
    await resultOf(good.event_id as string);
    const consumer = k.consumer({ groupId: uniq('dlq-reader') });
    await consumer.connect();
    await consumer.subscribe({ topic: dlqTopic, fromBeginning: true });
    const records: Record<string, unknown>[] = [];
    await consumer.run({ eachMessage: async ({ message }) => void records.push(JSON.parse(String(message.value))) });
    await waitFor('the DLQ record', async () => records.length > 0);
    await consumer.disconnect();
    assert.equal(records[0]?.failure_reason, 'BRIDGE_INVALID_EVENT');
    assert.equal(records[0]?.original_payload, '{not json');
    assert.equal(records[0]?.source_topic, normalizedTopic);
  });

  it('rejects a blocklisted customer as a business rejection: stored as failed validation, not scored', async () => {
    const e = unifiedEvent('adyen', {
      customer_id: 'cus_blocked_001',
      status: 'authorized',
      event_type: 'payment.authorized',
    });
    await produce([e]);
    const r = await resultOf(e.event_id as string);
    assert.equal(r.status, 'rejected');
    assert.deepEqual(
      r.validation_errors.map((x) => x.code),
      ['CUSTOMER_BLOCKLISTED'],
    );
    const [row] = await rowsFor(pool, e.event_id as string);
    assert.equal(row.validation_status, 'failed');
    assert.equal(row.fraud_score, null);
  });

  it('scores churn from the customer real history in PostgreSQL', async () => {
    const customer = uniq('cus_hist');
    const results: PaymentEventResult[] = [];
    for (let i = 0; i < 4; i++) {
      const e = unifiedEvent('stripe', {
        customer_id: customer,
        status: i === 0 ? 'succeeded' : 'failed',
        event_type: i === 0 ? 'payment.succeeded' : 'payment.failed',
        failure_code: i === 0 ? null : 'processing_error',
        provider_created_at: new Date(Date.UTC(2026, 0, 1 + i * 20)).toISOString(),
      });
      results.push(
        (await client.workflow.execute('PaymentEventWorkflow', {
          taskQueue,
          workflowId: paymentWorkflowId(e.event_id as string),
          args: [{ event: e }],
        })) as PaymentEventResult,
      );
    }
    const last = results.at(-1) as PaymentEventResult;
    const [row] = await rowsFor(pool, last.event_id);
    assert.equal(row.churn_features.consecutive_failures, 3);
    assert.equal(row.churn_features.total_payments, 4);
    assert.equal(row.churn_features.days_since_last_payment, 60);
    assert.equal(last.churn_risk_level, 'critical');
    assert.deepEqual(
      results.map((r) => r.churn_risk_level),
      ['low', 'low', 'high', 'critical'],
    );
  });
});
