-- Up Migration
-- The validation-DLQ record a review is about, by its fingerprint (the pipeline's validation_quarantine.record_sha256):
-- DLQ coordinates are reused after a topic is re-created or the platform moves to another cluster, so a review is
-- joined to its quarantine row by DLQ coordinates AND fingerprint. Null for reviews registered before (and for legacy
-- per-record review workflows): those are joined by coordinates alone, as before.
ALTER TABLE quarantine_reviews ADD COLUMN dlq_record_sha256 bytea;

-- Down Migration
ALTER TABLE quarantine_reviews DROP COLUMN dlq_record_sha256;
