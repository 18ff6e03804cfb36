/**
 * Reviews across the review-key upgrade (issue 13), against the real PostgreSQL: a review registered before migration
 * 1764170000005 carries the old key (the raw record's coordinates alone, or the DLQ message's own for a record naming
 * none) and no fingerprint. The review bridge now keys by reviewKeyOfRecord (coordinates + the raw record's timestamp,
 * or DLQ coordinates + fingerprint), so the same DLQ record redelivered after the upgrade got a second review. The
 * upgrade path (rekeyLegacyReviews, run by the review bridge before it consumes) re-keys old reviews from their
 * quarantine rows: the redelivery then adds nothing, and a different record at the same coordinates still gets its own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { reviewWorkflowId } from '@pep/contracts';
import { reviewItem } from '@pep/pipeline/bridge/reviews';
import { registerReviewGroup, rekeyLegacyReviews } from '@pep/pipeline/quarantine/review-store';
import { insertStatement, toRow } from '@pep/pipeline/quarantine/rows';
import type pg from 'pg';
import { setupDb, uniq } from './helpers.ts';

const dlqTopic = uniq('t.upgrade.validation.dlq');
const rawTopic = uniq('t.upgrade.webhooks.stripe.charge');
let pool: pg.Pool;

const record = (sourceOffset: number, receivedAt: string) => ({
  event_id: `stripe:evt_up${sourceOffset}`,
  provider: 'stripe',
  provider_event_id: `evt_up${sourceOffset}`,
  item_index: null,
  validation_errors: [{ field: 'data.object.currency', code: 'INVALID_CURRENCY', message: 'unsupported' }],
  failure_reason: 'INVALID_CURRENCY',
  source_topic: rawTopic,
  kafka_partition: 0,
  kafka_offset: sourceOffset,
  received_at: receivedAt,
  quarantined_at: receivedAt,
  schema_version: 1,
});

const dlqMessage = (offset: number, value: string) => ({
  topic: dlqTopic,
  partition: 0,
  offset: String(offset),
  key: Buffer.from(`k${offset}`),
  value: Buffer.from(value),
  timestamp: '0',
  headers: {},
});

/** The quarantine consumer's row for a DLQ message (same code path: toRow + insertStatement). */
async function quarantine(m: ReturnType<typeof dlqMessage>): Promise<void> {
  const st = insertStatement('validation_quarantine', [toRow('validation_quarantine', m)]);
  await pool.query(st.text, st.values);
}

/** A review as the bridge registered it before the upgrade: the old key, no fingerprint. */
async function oldReview(key: string, dlqOffset: number): Promise<void> {
  await pool.query(
    `INSERT INTO quarantine_reviews (workflow_id, review_key, dlq_topic, dlq_partition, dlq_offset, source_topic,
        validation_errors, expires_at)
     VALUES ($1, $2, $3, 0, $4, $5, '[]', now() + interval '1 day')`,
    [`dlq-review-group-${dlqTopic}-0-${dlqOffset}-${dlqOffset}`, key, dlqTopic, dlqOffset, rawTopic],
  );
}

/** Registers DLQ messages as the review bridge does now (reviewItem + registerReviewGroup); returns rows added. */
const redeliver = (ms: ReturnType<typeof dlqMessage>[]) =>
  registerReviewGroup(pool, {
    groupId: `dlq-review-group-${dlqTopic}-redelivered`,
    dlq: { topic: dlqTopic, partition: 0 },
    items: ms.map((m) => reviewItem(dlqTopic, 0, m)),
    timeoutMs: 86_400_000,
  });

const reviews = async () =>
  (
    await pool.query<{ review_key: string; dlq_offset: string; sha: string | null }>(
      `SELECT review_key, dlq_offset::text, encode(dlq_record_sha256, 'hex') AS sha
         FROM quarantine_reviews WHERE dlq_topic = $1 ORDER BY dlq_offset, id`,
      [dlqTopic],
    )
  ).rows;

describe('reviews across the review-key upgrade (issue 13)', () => {
  before(async () => {
    pool = await setupDb();
  });
  after(async () => {
    await pool?.query('DELETE FROM quarantine_reviews WHERE dlq_topic = $1', [dlqTopic]).catch(() => {});
    await pool?.query('DELETE FROM validation_quarantine WHERE kafka_topic = $1', [dlqTopic]).catch(() => {});
    await pool?.end();
  });

  it('an old review keeps its record: redelivered after the upgrade, one review; a new record still gets its own', async () => {
    // Before the upgrade: a record with raw coordinates and a record naming none (not JSON), each quarantined and
    // reviewed under the old keys.
    const withCoords = dlqMessage(0, JSON.stringify(record(7, '2026-12-01T00:00:00.000Z')));
    const garbage = dlqMessage(1, 'not json at all');
    await quarantine(withCoords);
    await quarantine(garbage);
    await oldReview(reviewWorkflowId(rawTopic, 0, '7', null), 0);
    await oldReview(reviewWorkflowId(dlqTopic, 0, '1'), 1);

    // The upgrade path (it re-keys every old review of the database: other tests' may be among them), then again:
    // idempotent.
    assert.ok((await rekeyLegacyReviews(pool)) >= 2);
    const rekeyed = await reviews();
    await rekeyLegacyReviews(pool);
    assert.deepEqual(await reviews(), rekeyed);
    assert.deepEqual(
      rekeyed.map((r) => r.review_key),
      [reviewItem(dlqTopic, 0, withCoords).key, reviewItem(dlqTopic, 0, garbage).key],
    );
    assert.ok(
      rekeyed.every((r) => r.sha !== null && r.sha.length === 64),
      JSON.stringify(rekeyed),
    );

    // The same DLQ records redelivered across the upgrade: no second review.
    assert.equal(await redeliver([withCoords, garbage]), 0);
    assert.equal((await reviews()).length, 2);

    // A different raw record at the same raw coordinates (the raw topic was re-created): its own review.
    const other = dlqMessage(2, JSON.stringify(record(7, '2026-12-05T00:00:00.000Z')));
    await quarantine(other);
    assert.equal(await redeliver([other]), 1);
    assert.equal((await reviews()).length, 3);
  });

  it('two old reviews of one record: the first takes the new key, the other keeps its own, nothing fails', async () => {
    // Both name the DLQ record at offset 5 (registered twice before the upgrade, or coordinates reused by a
    // re-created topic): both map to one new key. In one statement that failed the unique key, and the review
    // bridge, which runs this before it consumes, retried it forever (the security bench in CI: 0 reviews).
    const m = dlqMessage(5, JSON.stringify(record(9, '2026-12-02T00:00:00.000Z')));
    await quarantine(m);
    await oldReview(reviewWorkflowId(rawTopic, 0, '9', null), 5);
    await oldReview(`${reviewWorkflowId(rawTopic, 0, '9', null)}-again`, 5);
    await rekeyLegacyReviews(pool);
    const atFive = (await reviews()).filter((r) => r.dlq_offset === '5');
    assert.equal(atFive.length, 2);
    assert.equal(atFive.filter((r) => r.review_key === reviewItem(dlqTopic, 0, m).key).length, 1);
    assert.ok(
      atFive.every((r) => r.sha !== null && r.sha.length === 64),
      JSON.stringify(atFive),
    );
    // Nothing is left to re-key: a second pass changes nothing.
    assert.equal(await rekeyLegacyReviews(pool), 0);
  });
});
