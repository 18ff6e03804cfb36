-- Up Migration
-- Decisions of DlqReviewWorkflow (one row per reviewed quarantined record, keyed by the review workflow id, which is
-- derived from the record's original raw-topic coordinates). The pipeline's validation_quarantine table holds the
-- record itself; this table holds the review lifecycle so that the two can evolve independently.

CREATE TABLE quarantine_reviews (
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
  decided_at           timestamptz,
  CONSTRAINT quarantine_reviews_workflow_id_key UNIQUE (workflow_id)
);
CREATE INDEX quarantine_reviews_pending_idx ON quarantine_reviews (requested_at) WHERE status = 'pending';
CREATE INDEX quarantine_reviews_source_idx ON quarantine_reviews (source_topic, source_partition, source_offset);

-- The review columns of the pipeline's validation_quarantine table (reviewed, resolution, review_workflow_id, …) are
-- declared by the pipeline's own migrations (pipeline/migrations/1764160000001_quarantine-review-columns.sql); this
-- migration used to add them, and no longer touches a table it does not own.

-- Down Migration
DROP TABLE quarantine_reviews;
