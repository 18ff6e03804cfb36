/**
 * Grouped DLQ review (issue 13) against the real services: the bridge registers validation-DLQ records in groups,
 * one INSERT of pending quarantine_reviews rows per group straight into PostgreSQL (no workflow on the shared Temporal
 * server, never one per record, never on the payment queue); decisions run as DlqDecisionWorkflows on the review queue. approve re-injects the record's ORIGINAL bytes read back from
 * the raw topic (the DLQ record carries a redacted copy), reprocess the corrected payload (stored redacted), discard
 * nothing; a second decision and decisions on unknown records are refused; the sweep expires reviews past their time.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { REPRODUCED_HEADERS, reviewDecisionWorkflowId, reviewKeyOfRecord, WORKFLOW_TYPES } from '@pep/contracts';
import { redactPayload } from '@pep/contracts/redact';
import type { WorkflowBridge } from '@pep/pipeline/bridge';
import { reviewItem } from '@pep/pipeline/bridge/reviews';
import { registerReviewGroup } from '@pep/pipeline/quarantine/review-store';
import type { Client } from '@temporalio/client';
import type { Consumer, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type pg from 'pg';
import { expireReviews } from '../src/activities.ts';
import { quarantineReviewColumnsPresent } from '../src/db.ts';
import {
  buildDecision,
  decideGrouped,
  listQuarantined,
  registerRowForReview,
  resolveWorkflowId,
  reviewState,
} from '../src/review.ts';
import {
  createTopics,
  deleteTopics,
  kafka,
  reviewQueueOf,
  testBridge,
  uniq,
  waitFor,
  workerEnvironment,
} from './helpers.ts';

const env = workerEnvironment('wf-review-groups');
const rawTopic = uniq('t.webhooks.stripe.payment_intent');
const dlqTopic = uniq('t.validation.dlq');
const normalizedTopic = uniq('t.unused-normalized');
let pool: pg.Pool;
let client: Client;
let k: Kafka;
let producer: Producer;
let bridge: WorkflowBridge;
let rawReader: Consumer | undefined;
const rawSeen: KafkaMessage[] = [];

/** The original webhook body (with a card number in it, as a hostile client might send), stored in the raw topic. */
const originalBody = (i: number) =>
  JSON.stringify({
    id: `evt_grp${i}`,
    type: 'payment_intent.succeeded',
    data: { object: { id: `pi_grp${i}`, currency: 'xyz', metadata: { note: 'card 4111 1111 1111 1111' } } },
  });

/** Produces the original to the raw topic and returns its DLQ record (as the transformer writes it: redacted). */
async function quarantined(i: number) {
  const body = originalBody(i);
  const [meta] = await producer.send({ topic: rawTopic, acks: -1, messages: [{ key: `pi_grp${i}`, value: body }] });
  const offset = Number(meta?.baseOffset ?? meta?.offset);
  return {
    event_id: `stripe:evt_grp${i}`,
    provider: 'stripe',
    provider_event_id: `evt_grp${i}`,
    item_index: null,
    original_payload: redactPayload(Buffer.from(body)).text,
    original_payload_encoding: 'utf8',
    validation_errors: [
      { field: 'data.object.currency', code: 'INVALID_CURRENCY', message: 'unsupported currency XYZ' },
    ],
    failure_reason: 'INVALID_CURRENCY',
    source_topic: rawTopic,
    kafka_partition: 0,
    kafka_offset: offset,
    received_at: new Date().toISOString(),
    quarantined_at: new Date().toISOString(),
    schema_version: 1,
  };
}

/** The review key the bridge gives a record (its raw coordinates and timestamp). */
const keyOf = (r: Record<string, unknown>) => reviewKeyOfRecord(r, { topic: dlqTopic, partition: 0, offset: '0' });

async function countWorkflows(query: string): Promise<number> {
  let n = 0;
  for await (const _ of client.workflow.list({ query })) n++;
  return n;
}

describe('grouped quarantine review (issue 13)', () => {
  const records: Awaited<ReturnType<typeof quarantined>>[] = [];

  before(async () => {
    ({ pool, client } = env);
    k = kafka();
    await createTopics(k, [rawTopic, dlqTopic, normalizedTopic], 1);
    producer = k.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    rawReader = k.consumer({ groupId: uniq('raw-reader') });
    await rawReader.connect();
    await rawReader.subscribe({ topic: rawTopic, fromBeginning: true });
    await rawReader.run({ eachMessage: async ({ message }) => void rawSeen.push(message) });
    // 1,200 quarantined records: a flood the bridge must register in a few workflows, not 1,200.
    for (let i = 0; i < 1200; i++) records.push(await quarantined(i));
    await producer.send({
      topic: dlqTopic,
      acks: -1,
      messages: records.map((r) => ({ key: r.provider_event_id, value: JSON.stringify(r) })),
    });
    bridge = testBridge(
      client,
      {
        TEMPORAL_TASK_QUEUE: env.taskQueue,
        BRIDGE_NORMALIZED_TOPIC: normalizedTopic,
        BRIDGE_VALIDATION_DLQ_TOPIC: dlqTopic,
        BRIDGE_GROUP_ID: uniq('bridge'),
        BRIDGE_REVIEW_GROUP_ID: uniq('bridge-review'),
        BRIDGE_REVIEWS: 'true',
        BRIDGE_REVIEW_GROUPS_PER_S: '20',
      },
      'wf-test-review-groups',
    );
    await bridge.start();
  });

  after(async () => {
    await rawReader?.disconnect();
    await bridge?.stop();
    await producer?.disconnect();
    await pool?.query('DELETE FROM quarantine_reviews WHERE dlq_topic = $1', [dlqTopic]).catch(() => {});
    await pool?.query('DELETE FROM validation_quarantine WHERE kafka_topic = $1', [dlqTopic]).catch(() => {});
    await deleteTopics(k, [rawTopic, dlqTopic, normalizedTopic]);
  });

  it('registers 1,200 DLQ records in a few groups straight into PostgreSQL, with no workflow on either queue', async () => {
    const pending = await waitFor(
      'every record registered for review',
      async () => {
        const { rows } = await pool.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM quarantine_reviews WHERE dlq_topic = $1 AND status = 'pending'",
          [dlqTopic],
        );
        return (rows[0]?.n ?? 0) >= records.length ? rows[0]?.n : undefined;
      },
      120_000,
    );
    assert.equal(pending, records.length);
    // Registration is a few INSERTs straight into PostgreSQL: no workflow at all, on either queue (a flood of invalid
    // events costs the shared Temporal server nothing until a reviewer decides).
    assert.equal(
      await countWorkflows(
        `WorkflowType = '${WORKFLOW_TYPES.dlqReviewGroup}' AND TaskQueue = '${reviewQueueOf(env.taskQueue)}'`,
      ),
      0,
      'review registration starts no workflow',
    );
    assert.equal(
      await countWorkflows(`TaskQueue = '${env.taskQueue}'`),
      0,
      'review work never runs on the payment task queue',
    );
    const { rows: groups } = await pool.query<{ n: number }>(
      'SELECT count(DISTINCT workflow_id)::int AS n FROM quarantine_reviews WHERE dlq_topic = $1',
      [dlqTopic],
    );
    const n = groups[0]?.n ?? 0;
    assert.ok(n >= 3 && n <= 12, `${n} review groups (one INSERT each) for ${records.length} records`);
    const { rows } = await pool.query(
      "SELECT review_key, workflow_id, expires_at > now() + interval '100 hours' AS later FROM quarantine_reviews WHERE dlq_topic = $1 LIMIT 1",
      [dlqTopic],
    );
    assert.match(rows[0].workflow_id, /^dlq-review-group-/);
    assert.equal(rows[0].later, true, 'expires after BRIDGE_REVIEW_TIMEOUT_HOURS (168)');
  });

  it('approve re-injects the ORIGINAL bytes from the raw topic (the DLQ copy is redacted)', async () => {
    const r = records[0] as (typeof records)[number];
    assert.ok(!r.original_payload.includes('4111 1111 1111 1111'), 'the DLQ record is redacted');
    const key = keyOf(r);
    const out = await decideGrouped(
      client,
      key,
      buildDecision({ decision: 'approve', reviewer: 'alice' }),
      reviewQueueOf(env.taskQueue),
    );
    assert.ok(out.ok, JSON.stringify(out));
    const msg = await waitFor('the re-injected original', async () =>
      rawSeen.find((m) => String(m.headers?.[REPRODUCED_HEADERS.reprocessedFrom]) === key),
    );
    assert.equal(
      String(msg.value),
      originalBody(0),
      'the original bytes, card number and all, go back to the raw topic',
    );
    assert.equal(String(msg.key), 'pi_grp0');
    const row = await reviewState(pool, key);
    assert.equal(row?.status, 'approved');
    assert.equal(row?.decided_by, 'alice');
    const again = await decideGrouped(
      client,
      key,
      buildDecision({ decision: 'discard', reviewer: 'bob' }),
      reviewQueueOf(env.taskQueue),
    );
    assert.equal(again.ok, false, 'one decision per record');
  });

  it('reprocess re-injects the corrected payload and stores it redacted; discard re-injects nothing', async () => {
    const r1 = records[1] as (typeof records)[number];
    const key1 = keyOf(r1);
    const corrected = originalBody(1).replace('"xyz"', '"usd"');
    const out = await decideGrouped(
      client,
      key1,
      buildDecision({ decision: 'reprocess', reviewer: 'bob', correctedPayload: corrected, reason: 'currency' }),
      reviewQueueOf(env.taskQueue),
    );
    assert.ok(out.ok && out.result.resolution === 'reprocessed', JSON.stringify(out));
    const msg = await waitFor('the corrected payload', async () =>
      rawSeen.find((m) => String(m.headers?.[REPRODUCED_HEADERS.reprocessedFrom]) === key1),
    );
    assert.equal(String(msg.value), corrected);
    const { rows } = await pool.query('SELECT corrected_payload FROM quarantine_reviews WHERE review_key = $1', [key1]);
    assert.ok(!String(rows[0].corrected_payload).includes('4111 1111 1111 1111'), 'stored redacted');

    const r2 = records[2] as (typeof records)[number];
    const key2 = keyOf(r2);
    const d = await decideGrouped(
      client,
      key2,
      buildDecision({ decision: 'discard', reviewer: 'carol' }),
      reviewQueueOf(env.taskQueue),
    );
    assert.ok(d.ok && d.result.reinjected === null);
    assert.equal((await reviewState(pool, key2))?.status, 'discarded');
  });

  it('refuses decisions that cannot apply, and a refused attempt does not block a valid one', async () => {
    const unknown = await decideGrouped(
      client,
      'dlq-review-nowhere-0-0',
      buildDecision({ decision: 'discard', reviewer: 'x' }),
      reviewQueueOf(env.taskQueue),
    );
    assert.deepEqual(unknown.ok, false);
    assert.match((unknown as { error: string }).error, /no quarantined record/);
    const r3 = records[3] as (typeof records)[number];
    const key3 = keyOf(r3);
    const bad = await decideGrouped(
      client,
      key3,
      { decision: 'reprocess', reviewer: 'dave' },
      reviewQueueOf(env.taskQueue),
    );
    assert.match((bad as { error: string }).error, /correctedPayload/);
    const good = await decideGrouped(
      client,
      key3,
      buildDecision({ decision: 'discard', reviewer: 'dave' }),
      reviewQueueOf(env.taskQueue),
    );
    assert.ok(good.ok, JSON.stringify(good));
    assert.equal((await client.workflow.getHandle(reviewDecisionWorkflowId(key3)).describe()).status.name, 'COMPLETED');
  });

  it('the sweep expires pending reviews past their time, and mirrors it onto the quarantine row', async () => {
    const r4 = records[4] as (typeof records)[number];
    const key4 = keyOf(r4);
    await pool.query("UPDATE quarantine_reviews SET expires_at = now() - interval '1 second' WHERE review_key = $1", [
      key4,
    ]);
    let expired = 0;
    for (let i = 0; i < 20 && (await reviewState(pool, key4))?.status === 'pending'; i++)
      expired += await expireReviews(pool, 1000);
    assert.ok(expired >= 1 || (await reviewState(pool, key4))?.status === 'expired');
    assert.equal((await reviewState(pool, key4))?.status, 'expired');
    const late = await decideGrouped(
      client,
      key4,
      buildDecision({ decision: 'discard', reviewer: 'erin' }),
      reviewQueueOf(env.taskQueue),
    );
    assert.match((late as { error: string }).error, /already expired/);
  });

  it('a quarantined row no group registered is registered on demand and decided', async (t) => {
    if (!(await quarantineReviewColumnsPresent(pool))) return t.skip('no validation_quarantine table');
    const record = await quarantined(9999);
    const { rows } = await pool.query(
      `INSERT INTO validation_quarantine (kafka_topic, kafka_partition, kafka_offset, raw_value, record_sha256, record,
         event_id, source_topic, source_partition, source_offset)
       VALUES ($1, 0, 999999, $2, sha256(int4send(-1) || $2::bytea), $3, $4, $5, 0, $6) RETURNING id::text AS id`,
      [
        dlqTopic,
        Buffer.from(JSON.stringify(record)),
        JSON.stringify(record),
        record.event_id,
        rawTopic,
        record.kafka_offset,
      ],
    );
    const id = rows[0].id as string;
    const key = await resolveWorkflowId(pool, id);
    assert.equal(await registerRowForReview(client, pool, id, reviewQueueOf(env.taskQueue)), key);
    const out = await decideGrouped(
      client,
      key,
      buildDecision({ decision: 'discard', reviewer: 'frank' }),
      reviewQueueOf(env.taskQueue),
    );
    assert.ok(out.ok, JSON.stringify(out));
    const { rows: q } = await pool.query(
      'SELECT reviewed, resolution, reviewed_by FROM validation_quarantine WHERE id = $1',
      [id],
    );
    assert.deepEqual(q[0], { reviewed: true, resolution: 'discarded', reviewed_by: 'frank' });
  });
  it('a record at reused coordinates (re-created topics) gets its own quarantine row and review; a redelivery none', async (t) => {
    if (!(await quarantineReviewColumnsPresent(pool))) return t.skip('no validation_quarantine table');
    // After the raw and DLQ topics are re-created (or the platform moves to another cluster), offsets start again: a
    // new raw record has an old one's raw coordinates and its DLQ record an old one's DLQ coordinates. Keyed by
    // coordinates alone, its review was dropped (ON CONFLICT DO NOTHING) and joined to the old record's row.
    const reusedDlq = uniq('t.recreated.validation.dlq');
    const dlqRecord = (reason: string, receivedAt: string) => ({
      event_id: 'stripe:evt_reused',
      provider: 'stripe',
      provider_event_id: 'evt_reused',
      validation_errors: [{ field: 'data.object.currency', code: reason, message: reason }],
      failure_reason: reason,
      source_topic: uniq('t.recreated.raw'),
      kafka_partition: 0,
      kafka_offset: 5,
      received_at: receivedAt,
      quarantined_at: receivedAt,
    });
    const first = dlqRecord('INVALID_CURRENCY', '2026-12-01T00:00:00.000Z');
    const second = { ...dlqRecord('INVALID_AMOUNT', '2026-12-05T00:00:00.000Z'), source_topic: first.source_topic };
    const messages = [first, second].map((r) => ({
      offset: '0',
      key: Buffer.from(r.provider_event_id),
      value: Buffer.from(JSON.stringify(r)),
    }));
    try {
      // Both quarantine rows at the same DLQ coordinates, fingerprinted as the quarantine consumer does (the SQL
      // formula is the migration's backfill: it must agree with the bridge's dlqRecordSha256).
      const ids: string[] = [];
      for (const m of messages) {
        const { rows } = await pool.query(
          `INSERT INTO validation_quarantine (kafka_topic, kafka_partition, kafka_offset, kafka_key, raw_value,
             record_sha256, record, event_id, source_topic, source_partition, source_offset)
           VALUES ($1, 0, 0, $2, $3, sha256(int4send(length($2::bytea)) || $2::bytea || $3::bytea), $4, 'stripe:evt_reused', $5, 0, 5)
           RETURNING id::text AS id`,
          [reusedDlq, m.key, m.value, m.value.toString(), first.source_topic],
        );
        ids.push(rows[0].id as string);
      }
      const items = messages.map((m) => reviewItem(reusedDlq, 0, m));
      const register = () =>
        registerReviewGroup(pool, {
          groupId: 'g-reused',
          dlq: { topic: reusedDlq, partition: 0 },
          items,
          timeoutMs: 3_600_000,
        });
      assert.equal(await register(), 2, 'two records, two reviews');
      assert.equal(await register(), 0, 'the same records again: no new review');
      const keys = await Promise.all(ids.map((id) => resolveWorkflowId(pool, id)));
      assert.deepEqual(
        keys,
        items.map((it) => it.key),
      );
      assert.notEqual(keys[0], keys[1]);
      // Each quarantine row is joined to its own review only.
      const listed = (await listQuarantined(pool, { status: 'all', limit: 1000 })).filter((r) =>
        ids.includes(r.quarantine_id as string),
      );
      assert.deepEqual(listed.map((r) => r.review_status).sort(), ['pending', 'pending']);
      assert.equal(listed.length, 2);
      // Both are reviewable: a decision on one reaches its row, not the other's.
      const out = await decideGrouped(
        client,
        keys[1] as string,
        buildDecision({ decision: 'discard', reviewer: 'gina' }),
        reviewQueueOf(env.taskQueue),
      );
      assert.ok(out.ok, JSON.stringify(out));
      const { rows: q } = await pool.query(
        'SELECT id::text AS qid, reviewed, resolution FROM validation_quarantine WHERE kafka_topic = $1 ORDER BY id',
        [reusedDlq],
      );
      assert.deepEqual(q, [
        { qid: ids[0], reviewed: false, resolution: null },
        { qid: ids[1], reviewed: true, resolution: 'discarded' },
      ]);
      assert.equal((await reviewState(pool, keys[0] as string))?.status, 'pending');
    } finally {
      await pool.query('DELETE FROM quarantine_reviews WHERE dlq_topic = $1', [reusedDlq]);
      await pool.query('DELETE FROM validation_quarantine WHERE kafka_topic = $1', [reusedDlq]);
    }
  });
});
