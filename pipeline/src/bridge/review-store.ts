/**
 * Review registration in PostgreSQL (issue 13): a group of validation-DLQ review summaries becomes pending
 * `quarantine_reviews` rows in ONE statement, idempotent on the review key (the record's original raw coordinates and
 * timestamp, reviewKeyOfRecord: a redelivered or re-cut group adds nothing, a new record at reused coordinates gets
 * its own review). The review bridge calls it directly, so that registering a flood of
 * invalid events costs the shared Temporal server nothing (a workflow runs only when a reviewer decides:
 * DlqDecisionWorkflow); the review worker's legacy DlqReviewGroupWorkflow activity calls the same function. The table's
 * schema belongs to @pep/workflows (its migrations); this is the one INSERT into it.
 */
import { type ReviewItem, reviewKeyOfRecord } from '@pep/contracts';
import type pg from 'pg';

export interface ReviewRegistration {
  /** Stored as the reviews' `workflow_id`: the group's id, which names its DLQ offset range. */
  readonly groupId: string;
  readonly dlq: { readonly topic: string; readonly partition: number };
  readonly items: readonly ReviewItem[];
  /** A pending review expires this long after registration (the review worker's sweep marks it `expired`). */
  readonly timeoutMs: number;
}

/** Inserts the group's pending reviews (existing keys are left as they are); returns how many rows were new. */
export async function registerReviewGroup(db: Pick<pg.Pool, 'query'>, reg: ReviewRegistration): Promise<number> {
  if (reg.items.length === 0) return 0;
  const col = <T>(f: (it: ReviewItem) => T) => reg.items.map(f);
  const res = await db.query(
    `INSERT INTO quarantine_reviews (workflow_id, review_key, event_id, provider, failure_reason, validation_errors,
        source_topic, source_partition, source_offset, dlq_topic, dlq_partition, dlq_offset, dlq_record_sha256,
        expires_at)
     SELECT $1, k, e, p, f, v::jsonb, st, sp, so, $2, $3, d, decode(h, 'hex'),
            now() + make_interval(secs => $4::double precision)
       FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int[],
                   $12::bigint[], $13::bigint[], $14::text[]) AS t(k, e, p, f, v, st, sp, so, d, h)
     ON CONFLICT (review_key) DO NOTHING`,
    [
      reg.groupId,
      reg.dlq.topic,
      reg.dlq.partition,
      reg.timeoutMs / 1000,
      col((it) => it.key),
      col((it) => it.eventId),
      col((it) => it.provider),
      col((it) => it.failureReason),
      col((it) => JSON.stringify(it.validationErrors)),
      col((it) => it.source.topic),
      col((it) => it.source.partition),
      col((it) => it.source.offset),
      col((it) => it.dlqOffset),
      col((it) => it.dlqRecordSha256 ?? null),
    ],
  );
  return res.rowCount ?? 0;
}

/** One step of rekeyLegacyReviews: at most this many reviews are read and re-keyed per statement. */
const REKEY_BATCH = 1000;

/**
 * The upgrade path of the review key (issue 13): reviews registered before `quarantine_reviews.dlq_record_sha256`
 * (workflows migration 1764170000005) carry the old key, the raw record's coordinates alone (or the DLQ message's own),
 * while the bridge now registers reviewKeyOfRecord (the coordinates plus the raw record's timestamp, or the DLQ
 * coordinates plus the record's fingerprint). Such an old record redelivered across the upgrade missed its review and
 * got a second one. Each old review (no fingerprint yet) is re-keyed from the record it is about: its quarantine row
 * at its DLQ coordinates (the first row there, which is the record it was registered for: later rows at reused
 * coordinates came after the upgrade), giving it the new key and the row's fingerprint. Idempotent and bounded
 * (batches of REKEY_BATCH); a review whose new key already exists (a duplicate registered before this ran) keeps its
 * old key and gets the fingerprint, so it is not looked at again; a review without a quarantine row is left as it is.
 * The review bridge runs it before it consumes. Returns how many reviews were re-keyed.
 */
export async function rekeyLegacyReviews(db: Pick<pg.Pool, 'query'>): Promise<number> {
  // No quarantine table (the pipeline's migrations not applied on this database): no stored record to re-key from.
  const t = await db.query<{ q: string | null }>("SELECT to_regclass('validation_quarantine')::text AS q");
  if (!t.rows[0]?.q) return 0;
  let rekeyed = 0;
  let after = '';
  for (;;) {
    const { rows } = await db.query<{
      review_key: string;
      record: Record<string, unknown> | null;
      kafka_topic: string;
      kafka_partition: number;
      kafka_offset: string;
      sha: string;
    }>(
      `SELECT r.review_key, q.record, q.kafka_topic, q.kafka_partition, q.kafka_offset::text,
              encode(q.record_sha256, 'hex') AS sha
         FROM quarantine_reviews r
         JOIN LATERAL (SELECT record, kafka_topic, kafka_partition, kafka_offset, record_sha256
                         FROM validation_quarantine q
                        WHERE q.kafka_topic = r.dlq_topic AND q.kafka_partition = r.dlq_partition
                          AND q.kafka_offset = r.dlq_offset
                        ORDER BY q.id LIMIT 1) q ON true
        WHERE r.dlq_record_sha256 IS NULL AND r.review_key > $1
        ORDER BY r.review_key LIMIT ${REKEY_BATCH}`,
      [after],
    );
    if (rows.length === 0) return rekeyed;
    after = rows[rows.length - 1]?.review_key ?? after;
    const keys = rows.map((r) => ({
      old: r.review_key,
      next: reviewKeyOfRecord(r.record ?? {}, {
        topic: r.kafka_topic,
        partition: r.kafka_partition,
        offset: r.kafka_offset,
        sha256Hex: r.sha,
      }),
      sha: r.sha,
    }));
    const res = await db.query(
      `UPDATE quarantine_reviews r
          SET review_key = CASE WHEN EXISTS (SELECT 1 FROM quarantine_reviews o WHERE o.review_key = t.next)
                                THEN r.review_key ELSE t.next END,
              dlq_record_sha256 = decode(t.sha, 'hex')
         FROM unnest($1::text[], $2::text[], $3::text[]) AS t(old, next, sha)
        WHERE r.review_key = t.old AND r.dlq_record_sha256 IS NULL
       RETURNING r.review_key <> t.old AS moved`,
      [keys.map((k) => k.old), keys.map((k) => k.next), keys.map((k) => k.sha)],
    );
    rekeyed += res.rows.filter((r: { moved: boolean }) => r.moved).length;
  }
}
