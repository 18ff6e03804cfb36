/**
 * The one writer of the review tables (issue 14: each table has one owning package). `quarantine_reviews` (the review
 * lifecycle of a quarantined validation-DLQ record, pipeline/migrations/1764160000003) and the review columns of
 * `validation_quarantine` (1764160000001) are the pipeline's; the review bridge registers reviews here, the review
 * worker (@pep/workflows) stores decisions and expiries here, and the orchestration's review-timeouts step expires
 * orphaned reviews here. Readers may query the tables directly.
 *
 * Review registration (issue 13): a group of validation-DLQ review summaries becomes pending `quarantine_reviews` rows
 * in ONE statement, idempotent on the review key (the record's original raw coordinates and timestamp,
 * reviewKeyOfRecord: a redelivered or re-cut group adds nothing, a new record at reused coordinates gets its own
 * review). The review bridge calls it directly, so that registering a flood of invalid events costs the shared
 * Temporal server nothing (a workflow runs only when a reviewer decides: DlqDecisionWorkflow); the review worker's
 * legacy DlqReviewGroupWorkflow activity calls the same function.
 */
import { type ReviewItem, type ReviewResolution, reviewKeyOfRecord } from '@pep/contracts';
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
 * (migration 1764170000005, now part of pipeline migration 1764160000003) carry the old key, the raw record's coordinates alone (or the DLQ message's own),
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
    // Two old reviews can name the same record (the same DLQ coordinates, e.g. registered twice before the
    // upgrade, or reused coordinates): only the first one takes the new key, the others keep theirs (a unique key
    // given twice in one statement failed it, and the bridge retried it forever without consuming).
    const taken = new Set<string>();
    const keys = rows.map((r) => {
      const next = reviewKeyOfRecord(r.record ?? {}, {
        topic: r.kafka_topic,
        partition: r.kafka_partition,
        offset: r.kafka_offset,
        sha256Hex: r.sha,
      });
      const first = !taken.has(next);
      taken.add(next);
      return { old: r.review_key, next: first ? next : r.review_key, sha: r.sha };
    });
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

/** Anything that runs a query: a pool, a client, a transaction. */
type Queryable = Pick<pg.Pool, 'query'>;

/** The DLQ record a decided review is about, and the workflow that registered the review. */
export interface DecidedReview {
  readonly dlq_topic: string | null;
  readonly dlq_partition: number | null;
  readonly dlq_offset: string | null;
  /** The DLQ record's fingerprint (hex), null for reviews registered before it was kept. */
  readonly sha: string | null;
  readonly workflow_id: string;
}

const DECIDED_COLUMNS =
  "dlq_topic, dlq_partition, dlq_offset::text, encode(dlq_record_sha256, 'hex') AS sha, workflow_id";

/** A per-record review (legacy: one DlqReviewWorkflow per DLQ record, its workflow id is the review key). */
export interface RecordReview {
  readonly workflowId: string;
  readonly eventId: string | null;
  readonly provider: string | null;
  readonly failureReason: string | null;
  readonly validationErrors: readonly unknown[];
  readonly source: {
    readonly topic: string | null;
    readonly partition: number | null;
    readonly offset: string | number | null;
  };
  readonly dlq: { readonly topic: string; readonly partition: number; readonly offset: string };
  readonly dlqRecordSha256: string | null;
  readonly originalPayload: string | null;
}

/** Registers a per-record review; a second registration adds nothing. */
export async function registerRecordReview(db: Queryable, r: RecordReview): Promise<void> {
  await db.query(
    `INSERT INTO quarantine_reviews (workflow_id, review_key, event_id, provider, failure_reason, validation_errors,
        source_topic, source_partition, source_offset, dlq_topic, dlq_partition, dlq_offset, original_payload,
        dlq_record_sha256)
     VALUES ($1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, decode($13, 'hex'))
     ON CONFLICT (review_key) DO NOTHING`,
    [
      r.workflowId,
      r.eventId,
      r.provider,
      r.failureReason,
      JSON.stringify(r.validationErrors),
      r.source.topic,
      r.source.partition,
      r.source.offset,
      r.dlq.topic,
      r.dlq.partition,
      r.dlq.offset,
      r.originalPayload,
      r.dlqRecordSha256,
    ],
  );
}

/** A decision on a review, as stored (the corrected payload already redacted by the caller). */
export interface StoredDecision {
  readonly resolution: ReviewResolution;
  readonly decidedBy: string | null;
  readonly reason: string | null;
  readonly correctedPayload: string | null;
  readonly reinjected: { readonly topic: string; readonly partition: number; readonly offset: string } | null;
}

/** Stores a decision on the review `key`; undefined when no review has that key. */
export async function storeReviewDecision(
  db: Queryable,
  key: string,
  d: StoredDecision,
): Promise<DecidedReview | undefined> {
  const { rows } = await db.query<DecidedReview>(
    `UPDATE quarantine_reviews SET status = $2, decided_by = $3, decision_reason = $4, corrected_payload = $5,
        reinjected_topic = $6, reinjected_partition = $7, reinjected_offset = $8, decided_at = now()
      WHERE review_key = $1
      RETURNING ${DECIDED_COLUMNS}`,
    [
      key,
      d.resolution,
      d.decidedBy,
      d.reason,
      d.correctedPayload,
      d.reinjected?.topic ?? null,
      d.reinjected?.partition ?? null,
      d.reinjected?.offset ?? null,
    ],
  );
  return rows[0];
}

/**
 * Expires pending grouped reviews whose time is up, at most `limit`, oldest deadline first (rows locked by another
 * expirer are skipped); returns the expired reviews. Legacy per-record reviews (no expires_at) expire through their
 * own workflow.
 */
export async function expireDueReviews(db: Queryable, limit: number): Promise<DecidedReview[]> {
  const { rows } = await db.query<DecidedReview>(
    `UPDATE quarantine_reviews SET status = 'expired', decided_at = now()
      WHERE id IN (SELECT id FROM quarantine_reviews
                    WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= now()
                    ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
      RETURNING ${DECIDED_COLUMNS}`,
    [limit],
  );
  return rows;
}

/** Coordinates of a validation-DLQ record, and its fingerprint when known. */
export interface DlqRecordRef {
  readonly topic: string | null;
  readonly partition: number | null;
  readonly offset: string | null;
  readonly sha256Hex?: string | null;
}

/**
 * Mirrors a review's outcome onto its validation_quarantine row: matched by DLQ coordinates and, when the review
 * knows it, the record's fingerprint (coordinates are reused after a topic is re-created). Needs the table's review
 * columns (migration 1764160000001; the caller checks that they are there).
 */
export async function mirrorReviewResolution(
  db: Queryable,
  dlq: DlqRecordRef,
  resolution: ReviewResolution,
  reviewer: string | null,
  workflowId: string,
): Promise<void> {
  if (dlq.topic === null || dlq.partition === null || dlq.offset === null) return;
  const where = `WHERE kafka_topic = $1 AND kafka_partition = $2 AND kafka_offset = $3${
    dlq.sha256Hex ? ` AND record_sha256 = decode($${resolution === 'expired' ? 5 : 7}, 'hex')` : ''
  }`;
  const sha = dlq.sha256Hex ? [dlq.sha256Hex] : [];
  if (resolution === 'expired') {
    await db.query(`UPDATE validation_quarantine SET resolution = 'expired', review_workflow_id = $4 ${where}`, [
      dlq.topic,
      dlq.partition,
      dlq.offset,
      workflowId,
      ...sha,
    ]);
    return;
  }
  await db.query(
    `UPDATE validation_quarantine SET reviewed = true, reviewed_at = now(), reviewed_by = $4, resolution = $5,
        review_workflow_id = $6 ${where}`,
    [dlq.topic, dlq.partition, dlq.offset, reviewer, resolution, workflowId, ...sha],
  );
}

/**
 * Expires the pending reviews registered by the given workflows (which no longer run: `status` is theirs), recording
 * `decidedBy` and why, and mirrors the expiry onto their quarantine rows when validation_quarantine has its review
 * columns. Run it in one transaction (`tx`) so both tables change together.
 */
export async function expireOrphanedReviews(
  tx: Queryable,
  orphaned: readonly { readonly workflow_id: string; readonly status: string }[],
  decidedBy: string,
): Promise<void> {
  await tx.query(
    `UPDATE quarantine_reviews q SET status = 'expired', decided_at = now(), decided_by = $2,
            decision_reason = 'review deadline passed and its workflow is ' || o.status
       FROM jsonb_to_recordset($1::jsonb) AS o(workflow_id text, status text)
      WHERE q.workflow_id = o.workflow_id AND q.status = 'pending'`,
    [JSON.stringify(orphaned), decidedBy],
  );
  const { rows } = await tx.query<{ ok: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM information_schema.columns
            WHERE table_name = 'validation_quarantine' AND column_name = 'review_workflow_id') AS ok`,
  );
  if (!rows[0]?.ok) return;
  await tx.query(
    `UPDATE validation_quarantine v SET resolution = 'expired', review_workflow_id = q.workflow_id
       FROM quarantine_reviews q
      WHERE q.workflow_id = ANY($1) AND v.kafka_topic = q.dlq_topic AND v.kafka_partition = q.dlq_partition
        AND v.kafka_offset = q.dlq_offset
        AND (q.dlq_record_sha256 IS NULL OR v.record_sha256 = q.dlq_record_sha256)`,
    [orphaned.map((o) => o.workflow_id)],
  );
}
