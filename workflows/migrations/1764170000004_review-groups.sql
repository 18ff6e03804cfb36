-- Up Migration
-- Empty since issue 14 (one owner per table): quarantine_reviews is the pipeline's table, created and brought to its
-- current schema by pipeline/migrations/1764160000003_quarantine-reviews.sql, which repeats what this migration did
-- (idempotently). This file stays because databases record it as applied (pgmigrations_workflows).

-- Down Migration
