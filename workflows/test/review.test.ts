/**
 * DlqReviewWorkflow against the real services: started by the bridge from a validation DLQ record, then each signal
 * path (approve re-injects the original payload, reprocess the corrected one, discard drops it), an invalid decision
 * that is refused while the review keeps waiting, and the timeout. Decisions land in quarantine_reviews and on the
 * pipeline's validation_quarantine row.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { REVIEW_STATUS_QUERY, reviewWorkflowId } from '@pep/contracts';
import type { WorkflowBridge } from '@pep/pipeline/bridge';
import type { Client } from '@temporalio/client';
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import type pg from 'pg';
import { quarantineReviewColumnsPresent } from '../src/db.ts';
import { buildDecision, resolveWorkflowId, reviewInputOfRow, sendDecision } from '../src/review.ts';
import type { DlqReviewResult, ReviewState } from '../src/types.ts';
import { createTopics, deleteTopics, kafka, testBridge, uniq, waitFor, workerEnvironment } from './helpers.ts';

const env = workerEnvironment('wf-review');
const { taskQueue } = env;
const rawTopic = uniq('t.webhooks.stripe.payment_intent');
const dlqTopic = uniq('t.validation.dlq');
let pool: pg.Pool;
let client: Client;
let k: Kafka;
let bridge: WorkflowBridge;
const reinjected: KafkaMessage[] = [];
let offsetSeq = 1000;
let rawReader: Consumer | undefined;
const topics: string[] = [];

function dlqRecord(over: Record<string, unknown> = {}) {
  const offset = offsetSeq++;
  return {
    event_id: `stripe:evt_bad${offset}`,
    provider: 'stripe',
    provider_event_id: `evt_bad${offset}`,
    item_index: null,
    original_payload: JSON.stringify({
      id: `evt_bad${offset}`,
      type: 'payment_intent.succeeded',
      data: { object: { currency: 'xyz' } },
    }),
    original_payload_encoding: 'utf8',
    validation_errors: [{ field: 'currency', code: 'INVALID_CURRENCY', message: 'Unsupported currency: XYZ' }],
    failure_reason: 'INVALID_CURRENCY',
    source_topic: rawTopic,
    kafka_partition: 0,
    kafka_offset: offset,
    received_at: new Date().toISOString(),
    quarantined_at: new Date().toISOString(),
    schema_version: 1,
    ...over,
  };
}

async function startReview(record: Record<string, unknown>, reviewTimeoutMs = 600_000) {
  const workflowId = reviewWorkflowId(record.source_topic as string, 0, record.kafka_offset as number);
  const handle = await client.workflow.start('DlqReviewWorkflow', {
    taskQueue,
    workflowId,
    args: [{ record, dlq: { topic: dlqTopic, partition: 0, offset: String(record.kafka_offset) }, reviewTimeoutMs }],
  });
  await waitFor(
    'the review to wait for a decision',
    async () => (await handle.query<ReviewState>(REVIEW_STATUS_QUERY)).stage === 'awaiting_decision',
  );
  return handle;
}

async function reviewRow(workflowId: string) {
  const { rows } = await pool.query('SELECT * FROM quarantine_reviews WHERE workflow_id = $1', [workflowId]);
  return rows[0];
}

describe('quarantine review workflow', () => {
  before(async () => {
    ({ pool, client } = env);
    k = kafka();
    await createTopics(k, [rawTopic, dlqTopic], 1);
    const normalizedTopic = uniq('t.unused-normalized');
    await createTopics(k, [normalizedTopic], 1);
    topics.push(normalizedTopic);
    rawReader = k.consumer({ groupId: uniq('raw-reader') });
    await rawReader.connect();
    await rawReader.subscribe({ topic: rawTopic, fromBeginning: true });
    await rawReader.run({ eachMessage: async ({ message }) => void reinjected.push(message) });
    bridge = testBridge(
      client,
      {
        TEMPORAL_TASK_QUEUE: taskQueue,
        BRIDGE_NORMALIZED_TOPIC: normalizedTopic,
        BRIDGE_VALIDATION_DLQ_TOPIC: dlqTopic,
        BRIDGE_GROUP_ID: uniq('bridge'),
        BRIDGE_REVIEW_GROUP_ID: uniq('bridge-review'),
        BRIDGE_REVIEWS: 'true',
      },
      'wf-test-review',
    );
  });

  after(async () => {
    await rawReader?.disconnect();
    await bridge?.stop();
    await pool?.query('DELETE FROM validation_quarantine WHERE kafka_topic = $1', [dlqTopic]).catch(() => {});
    await deleteTopics(k, [rawTopic, dlqTopic, ...topics]);
  });

  it('approve: the bridge starts the review, the original payload is re-injected and the decision recorded', async () => {
    const record = dlqRecord();
    const dlqOffset = String(record.kafka_offset);
    // The pipeline's quarantine row for the record, so the decision is mirrored onto it.
    if (await quarantineReviewColumnsPresent(pool)) {
      await pool.query(
        `INSERT INTO validation_quarantine (kafka_topic, kafka_partition, kafka_offset, raw_value, record, event_id)
         VALUES ($1, 0, 0, $2, $3, $4)`,
        [dlqTopic, Buffer.from(JSON.stringify(record)), JSON.stringify(record), record.event_id],
      );
    }
    const producer = k.producer();
    await producer.connect();
    await producer.send({ topic: dlqTopic, messages: [{ key: 'evt', value: JSON.stringify(record) }] });
    await producer.disconnect();
    await bridge.start();
    const workflowId = reviewWorkflowId(rawTopic, 0, dlqOffset);
    await waitFor('the bridge to start the review', async () => {
      try {
        return (await client.workflow.getHandle(workflowId).query<ReviewState>(REVIEW_STATUS_QUERY)).stage ===
          'awaiting_decision'
          ? true
          : undefined;
      } catch {
        return undefined;
      }
    });
    const state = await sendDecision(client, workflowId, buildDecision({ decision: 'approve', reviewer: 'alice' }));
    assert.equal(state.decision?.decision, 'approve');
    const result = (await client.workflow.getHandle(workflowId).result()) as DlqReviewResult;
    assert.equal(result.resolution, 'approved');
    const msg = await waitFor('the re-injected message', async () =>
      reinjected.find((m) => String(m.headers?.['reprocessed-from']) === workflowId),
    );
    assert.equal(String(msg.value), record.original_payload);
    assert.equal(String(msg.headers?.provider), 'stripe');
    const row = await reviewRow(workflowId);
    assert.equal(row.status, 'approved');
    assert.equal(row.decided_by, 'alice');
    assert.equal(row.reinjected_topic, rawTopic);
    const { rows: q } = await pool.query(
      'SELECT reviewed, resolution, reviewed_by FROM validation_quarantine WHERE kafka_topic = $1',
      [dlqTopic],
    );
    if (q.length > 0) assert.deepEqual(q[0], { reviewed: true, resolution: 'approved', reviewed_by: 'alice' });
  });

  it('reprocess: re-injects the corrected payload', async () => {
    const record = dlqRecord();
    const handle = await startReview(record);
    const corrected = JSON.stringify({
      id: 'evt_fixed',
      type: 'payment_intent.succeeded',
      data: { object: { currency: 'usd' } },
    });
    await sendDecision(
      client,
      handle.workflowId,
      buildDecision({ decision: 'reprocess', reviewer: 'bob', correctedPayload: corrected, reason: 'currency typo' }),
    );
    const result = (await handle.result()) as DlqReviewResult;
    assert.equal(result.resolution, 'reprocessed');
    const msg = await waitFor('the corrected message', async () =>
      reinjected.find((m) => String(m.headers?.['reprocessed-from']) === handle.workflowId),
    );
    assert.equal(String(msg.value), corrected);
    const row = await reviewRow(handle.workflowId);
    assert.equal(row.status, 'reprocessed');
    assert.equal(row.corrected_payload, corrected);
    assert.equal(row.decision_reason, 'currency typo');
  });

  it('refuses an invalid decision and keeps waiting; discard then drops the record without re-injection', async () => {
    const record = dlqRecord();
    const handle = await startReview(record);
    const bad = await sendDecision(client, handle.workflowId, { decision: 'reprocess', reviewer: 'carol' });
    assert.equal(bad.decision, null);
    assert.match(bad.rejectedSignals[0]?.error ?? '', /correctedPayload/);
    assert.equal(bad.stage, 'awaiting_decision');
    await sendDecision(client, handle.workflowId, buildDecision({ decision: 'discard', reviewer: 'carol' }));
    const result = (await handle.result()) as DlqReviewResult;
    assert.equal(result.resolution, 'discarded');
    assert.equal(result.reinjected, null);
    assert.equal((await reviewRow(handle.workflowId)).status, 'discarded');
    assert.equal(reinjected.filter((m) => String(m.headers?.['reprocessed-from']) === handle.workflowId).length, 0);
  });

  it('expires when no decision arrives before the timeout, and says so', async () => {
    const handle = await startReview(dlqRecord(), 1500);
    const result = (await handle.result()) as DlqReviewResult;
    assert.equal(result.resolution, 'expired');
    const row = await reviewRow(handle.workflowId);
    assert.equal(row.status, 'expired');
    assert.ok(row.decided_at);
  });

  it('a decision for a record whose review was never started starts the review with the decision', async (t) => {
    if (!(await quarantineReviewColumnsPresent(pool))) return t.skip('no validation_quarantine table');
    const record = dlqRecord();
    const { rows } = await pool.query(
      `INSERT INTO validation_quarantine (kafka_topic, kafka_partition, kafka_offset, raw_value, record, event_id,
         source_topic, source_partition, source_offset)
       VALUES ($1, 0, $2, $3, $4, $5, $6, 0, $2) RETURNING id::text AS id`,
      [
        dlqTopic,
        record.kafka_offset,
        Buffer.from(JSON.stringify(record)),
        JSON.stringify(record),
        record.event_id,
        rawTopic,
      ],
    );
    const id = rows[0].id as string;
    const workflowId = await resolveWorkflowId(pool, id);
    assert.equal(workflowId, reviewWorkflowId(rawTopic, 0, record.kafka_offset));
    await sendDecision(client, workflowId, buildDecision({ decision: 'discard', reviewer: 'dave' }), {
      input: await reviewInputOfRow(pool, id),
      taskQueue,
    });
    const result = (await client.workflow.getHandle(workflowId).result()) as DlqReviewResult;
    assert.equal(result.resolution, 'discarded');
    const { rows: q } = await pool.query(
      'SELECT reviewed, resolution, reviewed_by FROM validation_quarantine WHERE id = $1',
      [id],
    );
    assert.deepEqual(q[0], { reviewed: true, resolution: 'discarded', reviewed_by: 'dave' });
  });

  it('the CLI input check refuses unknown decisions and reprocess without a payload', () => {
    assert.throws(() => buildDecision({ decision: 'reject', reviewer: 'x' }), /approve, reprocess, discard/);
    assert.throws(() => buildDecision({ decision: 'reprocess', reviewer: 'x' }), /payload/);
    assert.throws(() => buildDecision({ decision: 'discard', reviewer: ' ' }), /reviewer/);
  });
});
