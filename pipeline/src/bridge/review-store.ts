/**
 * Review registration in PostgreSQL (issue 13): a group of validation-DLQ review summaries becomes pending
 * `quarantine_reviews` rows in ONE statement, idempotent on the review key (the record's original raw coordinates and
 * timestamp, reviewKeyOfRecord: a redelivered or re-cut group adds nothing, a new record at reused coordinates gets
 * its own review). The review bridge calls it directly, so that registering a flood of
 * invalid events costs the shared Temporal server nothing (a workflow runs only when a reviewer decides:
 * DlqDecisionWorkflow); the review worker's legacy DlqReviewGroupWorkflow activity calls the same function. The table's
 * schema belongs to @pep/workflows (its migrations); this is the one INSERT into it.
 */
import type { ReviewItem } from '@pep/contracts';
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
