-- Up Migration
-- A quarantine row is one DLQ record, named by its coordinates AND its fingerprint (record_sha256: SHA-256 over the
-- stored key's length as int32 big-endian, -1 for none, the stored key and the stored value; pipeline/src/quarantine/
-- rows.ts recordSha256). Unique on the coordinates alone, a new record at an old record's coordinates (after a topic
-- is re-created or the platform moves to another cluster, offsets start again) was dropped by ON CONFLICT DO NOTHING
-- and never reviewed. The same record redelivered has the same fingerprint: still one row.
-- Existing rows get the fingerprint of their stored bytes (what the consumer hashes for new rows).

ALTER TABLE webhook_quarantine ADD COLUMN record_sha256 bytea;
UPDATE webhook_quarantine
   SET record_sha256 = sha256(int4send(coalesce(length(kafka_key), -1)) || coalesce(kafka_key, ''::bytea) || raw_value);
ALTER TABLE webhook_quarantine ALTER COLUMN record_sha256 SET NOT NULL;
ALTER TABLE webhook_quarantine DROP CONSTRAINT webhook_quarantine_kafka_coordinates;
ALTER TABLE webhook_quarantine ADD CONSTRAINT webhook_quarantine_kafka_record
  UNIQUE (kafka_topic, kafka_partition, kafka_offset, record_sha256);

ALTER TABLE validation_quarantine ADD COLUMN record_sha256 bytea;
UPDATE validation_quarantine
   SET record_sha256 = sha256(int4send(coalesce(length(kafka_key), -1)) || coalesce(kafka_key, ''::bytea) || raw_value);
ALTER TABLE validation_quarantine ALTER COLUMN record_sha256 SET NOT NULL;
ALTER TABLE validation_quarantine DROP CONSTRAINT validation_quarantine_kafka_coordinates;
ALTER TABLE validation_quarantine ADD CONSTRAINT validation_quarantine_kafka_record
  UNIQUE (kafka_topic, kafka_partition, kafka_offset, record_sha256);

-- Down Migration
-- Fails while two rows share coordinates (records this migration kept apart): remove one of them first.
ALTER TABLE validation_quarantine DROP CONSTRAINT validation_quarantine_kafka_record;
ALTER TABLE validation_quarantine ADD CONSTRAINT validation_quarantine_kafka_coordinates
  UNIQUE (kafka_topic, kafka_partition, kafka_offset);
ALTER TABLE validation_quarantine DROP COLUMN record_sha256;
ALTER TABLE webhook_quarantine DROP CONSTRAINT webhook_quarantine_kafka_record;
ALTER TABLE webhook_quarantine ADD CONSTRAINT webhook_quarantine_kafka_coordinates
  UNIQUE (kafka_topic, kafka_partition, kafka_offset);
ALTER TABLE webhook_quarantine DROP COLUMN record_sha256;
