-- Up Migration
-- The review lifecycle of quarantined validation-DLQ records (issue 13: DLQ review): one row per review, keyed by its
-- review key (reviewKeyOfRecord: the record's raw-topic coordinates and timestamp, or for a legacy per-record
-- DlqReviewWorkflow its workflow id); workflow_id names the workflow or group that registered it. validation_quarantine
-- holds the record itself; this table holds the review, so that the two can evolve independently.
--
-- Issue 14 (one owner per table): this table used to be created and altered by the workflows' migrations
-- (1764170000001_quarantine-reviews, 1764170000004_review-groups, 1764170000005_review-record-fingerprint), while the
-- pipeline's review bridge inserted into it. It is the pipeline's now, and every write goes through
-- src/quarantine/review-store.ts. Those workflows migrations are kept, empty, because databases record them as applied;
-- this migration repeats what they did, each step idempotent, so it brings a new database, one that ran all of them and
-- one that ran only some of them to the same schema (a database that ran them all is left as it is).

CREATE TABLE IF NOT EXISTS quarantine_reviews (
  id                   bigserial PRIMARY KEY,
  workflow_id          text        NOT NULL,
  event_id             text,
  provider             text,
  failure_reason       text,
  validation_errors    jsonb       NOT NULL DEFAULT '[]'::jsonb,
  source_topic         text,
  source_partition     integer,
  source_offset        bigint,
  dlq_topic            text,
  dlq_partition        integer,
  dlq_offset           bigint,
  original_payload     text,
  status               text        NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'approved', 'reprocessed', 'discarded', 'expired')),
  decided_by           text,
  decision_reason      text,
  corrected_payload    text,
  reinjected_topic     text,
  reinjected_partition integer,
  reinjected_offset    bigint,
  requested_at         timestamptz NOT NULL DEFAULT now(),
  decided_at           timestamptz
);
CREATE INDEX IF NOT EXISTS quarantine_reviews_pending_idx ON quarantine_reviews (requested_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS quarantine_reviews_source_idx
  ON quarantine_reviews (source_topic, source_partition, source_offset);

-- Grouped review (issue 13): unique on the review key, no longer on workflow_id (a group's id is shared by its rows);
-- a pending grouped review expires at expires_at.
ALTER TABLE quarantine_reviews ADD COLUMN IF NOT EXISTS review_key text;
UPDATE quarantine_reviews SET review_key = workflow_id WHERE review_key IS NULL;
ALTER TABLE quarantine_reviews ALTER COLUMN review_key SET NOT NULL;
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint
                  WHERE conname = 'quarantine_reviews_review_key_key'
                    AND conrelid = 'quarantine_reviews'::regclass) THEN
    ALTER TABLE quarantine_reviews ADD CONSTRAINT quarantine_reviews_review_key_key UNIQUE (review_key);
  END IF;
END
$$;
ALTER TABLE quarantine_reviews DROP CONSTRAINT IF EXISTS quarantine_reviews_workflow_id_key;
CREATE INDEX IF NOT EXISTS quarantine_reviews_workflow_id_idx ON quarantine_reviews (workflow_id);
ALTER TABLE quarantine_reviews ADD COLUMN IF NOT EXISTS expires_at timestamptz;
CREATE INDEX IF NOT EXISTS quarantine_reviews_expiry_idx ON quarantine_reviews (expires_at) WHERE status = 'pending';

-- The validation-DLQ record a review is about, by its fingerprint (validation_quarantine.record_sha256): DLQ
-- coordinates are reused after a topic is re-created, so a review is joined to its quarantine row by DLQ coordinates
-- AND fingerprint. Null for reviews registered before (and for legacy per-record reviews): joined by coordinates.
ALTER TABLE quarantine_reviews ADD COLUMN IF NOT EXISTS dlq_record_sha256 bytea;

-- Down Migration
DROP TABLE IF EXISTS quarantine_reviews;
