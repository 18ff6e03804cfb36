-- Up Migration
-- Quarantine tables filled by pipeline/src/quarantine from the two DLQ topics.
-- One row per Kafka record, idempotent on its coordinates (topic, partition, offset): a redelivered record is a no-op.
-- The raw record value is always kept as bytes, so a record that is not JSON (or not the expected shape) is
-- still stored, with parse_error saying why; the parsed columns are then null.

CREATE TABLE webhook_quarantine (
  id               bigserial PRIMARY KEY,
  kafka_topic      text        NOT NULL,
  kafka_partition  integer     NOT NULL,
  kafka_offset     bigint      NOT NULL,
  kafka_key        bytea,
  kafka_timestamp  timestamptz,
  kafka_headers    jsonb       NOT NULL DEFAULT '{}'::jsonb,
  raw_value        bytea       NOT NULL,
  record           jsonb,
  parse_error      text,
  provider         text,
  reason           text,
  message          text,
  security_event   boolean,
  http_status      integer,
  event_id         text,
  request_id       text,
  received_at      timestamptz,
  quarantined_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT webhook_quarantine_kafka_coordinates UNIQUE (kafka_topic, kafka_partition, kafka_offset)
);
CREATE INDEX webhook_quarantine_reason_idx ON webhook_quarantine (reason, quarantined_at);
CREATE INDEX webhook_quarantine_provider_idx ON webhook_quarantine (provider, quarantined_at);

CREATE TABLE validation_quarantine (
  id                bigserial PRIMARY KEY,
  kafka_topic       text        NOT NULL,
  kafka_partition   integer     NOT NULL,
  kafka_offset      bigint      NOT NULL,
  kafka_key         bytea,
  kafka_timestamp   timestamptz,
  kafka_headers     jsonb       NOT NULL DEFAULT '{}'::jsonb,
  raw_value         bytea       NOT NULL,
  record            jsonb,
  parse_error       text,
  event_id          text,
  provider          text,
  provider_event_id text,
  failure_reason    text,
  validation_errors jsonb,
  -- The raw event's ORIGINAL coordinates, as the transformer wrote them into the DLQ record.
  source_topic      text,
  source_partition  integer,
  source_offset     bigint,
  dlq_quarantined_at timestamptz,
  quarantined_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT validation_quarantine_kafka_coordinates UNIQUE (kafka_topic, kafka_partition, kafka_offset)
);
CREATE INDEX validation_quarantine_failure_idx ON validation_quarantine (failure_reason, quarantined_at);
CREATE INDEX validation_quarantine_event_idx ON validation_quarantine (event_id);
CREATE INDEX validation_quarantine_source_idx ON validation_quarantine (source_topic, source_partition, source_offset);

-- Down Migration
DROP TABLE validation_quarantine;
DROP TABLE webhook_quarantine;
