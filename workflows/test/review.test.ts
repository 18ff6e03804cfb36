/**
 * The legacy per-record DlqReviewWorkflow (bridges start grouped reviews since issue 13, see review-groups.test.ts;
 * per-record reviews started before still run) against the real services: each signal path (reprocess the corrected
 * payload, discard drops it), an invalid decision that is refused while the review keeps waiting, and the timeout.
 * Decisions land in quarantine_reviews.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { REPRODUCED_HEADERS, REVIEW_STATUS_QUERY, reviewWorkflowId } from '@pep/contracts';
import type { Client } from '@temporalio/client';
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import type pg from 'pg';
import { buildDecision, sendDecision } from '../src/review.ts';
import type { DlqReviewResult, ReviewState } from '../src/types.ts';
import { createTopics, deleteTopics, kafka, uniq, waitFor, workerEnvironment } from './helpers.ts';

const env = workerEnvironment('wf-review');
const { taskQueue } = env;
const rawTopic = uniq('t.webhooks.stripe.payment_intent');
const dlqTopic = uniq('t.validation.dlq');
let pool: pg.Pool;
let client: Client;
let k: Kafka;
const reinjected: KafkaMessage[] = [];
let offsetSeq = 1000;
let rawReader: Consumer | undefined;

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
    rawReader = k.consumer({ groupId: uniq('raw-reader') });
    await rawReader.connect();
    await rawReader.subscribe({ topic: rawTopic, fromBeginning: true });
    await rawReader.run({ eachMessage: async ({ message }) => void reinjected.push(message) });
  });

  after(async () => {
    await rawReader?.disconnect();
    await pool?.query('DELETE FROM validation_quarantine WHERE kafka_topic = $1', [dlqTopic]).catch(() => {});
    await deleteTopics(k, [rawTopic, dlqTopic]);
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
      reinjected.find((m) => String(m.headers?.[REPRODUCED_HEADERS.reprocessedFrom]) === handle.workflowId),
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
    assert.equal(
      reinjected.filter((m) => String(m.headers?.[REPRODUCED_HEADERS.reprocessedFrom]) === handle.workflowId).length,
      0,
    );
  });

  it('expires when no decision arrives before the timeout, and says so', async () => {
    const handle = await startReview(dlqRecord(), 1500);
    const result = (await handle.result()) as DlqReviewResult;
    assert.equal(result.resolution, 'expired');
    const row = await reviewRow(handle.workflowId);
    assert.equal(row.status, 'expired');
    assert.ok(row.decided_at);
  });

  it('the CLI input check refuses unknown decisions and reprocess without a payload', () => {
    assert.throws(() => buildDecision({ decision: 'reject', reviewer: 'x' }), /approve, reprocess, discard/);
    assert.throws(() => buildDecision({ decision: 'reprocess', reviewer: 'x' }), /payload/);
    assert.throws(() => buildDecision({ decision: 'discard', reviewer: ' ' }), /reviewer/);
  });
});
