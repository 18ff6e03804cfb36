-- Up Migration
-- Enriched payment events written by PaymentEventWorkflow (workflows/src/activities.ts): one row per event_id.
-- JSON values live in jsonb columns (the original put a ~146-character retry strategy JSON into VARCHAR(50) and lost
-- every failed payment); text columns have no arbitrary length caps for the same reason. Amounts are integer minor
-- units. `outcome` is the workflow's classification (succeeded / failed / other), used by the churn history query.

CREATE TABLE payment_events (
  id                      bigserial PRIMARY KEY,
  event_id                text        NOT NULL,
  provider                text,
  provider_event_id       text,
  object_id               text,
  event_type              text,
  merchant_id             text,
  customer_id             text,
  amount_minor            bigint CHECK (amount_minor >= 0),
  currency                text,
  payment_method_type     text,
  card_brand              text,
  card_last_four          text,
  status                  text,
  outcome                 text        NOT NULL CHECK (outcome IN ('succeeded', 'failed', 'other')),
  failure_code            text,
  failure_message         text,
  metadata                jsonb       NOT NULL DEFAULT '{}'::jsonb,
  provider_created_at     timestamptz,
  received_at             timestamptz,
  normalized_at           timestamptz,
  schema_version          integer     NOT NULL DEFAULT 1,
  validation_status       text        NOT NULL CHECK (validation_status IN ('passed', 'failed')),
  validation_errors       jsonb       NOT NULL DEFAULT '[]'::jsonb,
  validation_warnings     jsonb       NOT NULL DEFAULT '[]'::jsonb,
  fraud_score             numeric(5, 4) CHECK (fraud_score BETWEEN 0 AND 1),
  fraud_risk_level        text,
  fraud_risk_factors      jsonb,
  fraud_model_version     text,
  retry_strategy          jsonb,
  retry_action            text,
  retry_delay_seconds     integer,
  churn_score             numeric(5, 4) CHECK (churn_score BETWEEN 0 AND 1),
  churn_risk_level        text,
  churn_risk_factors      jsonb,
  days_to_churn_estimate  integer,
  churn_model_version     text,
  churn_features          jsonb,
  workflow_id             text        NOT NULL,
  workflow_run_id         text        NOT NULL,
  persisted_at            timestamptz NOT NULL DEFAULT now(),
  loaded_to_lake          boolean     NOT NULL DEFAULT false,
  loaded_at               timestamptz,
  CONSTRAINT payment_events_event_id_key UNIQUE (event_id)
);
-- Churn history reads a customer's events newest first; the retry attempt count reads an object's failures.
CREATE INDEX payment_events_customer_time_idx ON payment_events (customer_id, provider_created_at DESC) WHERE customer_id IS NOT NULL;
CREATE INDEX payment_events_object_idx ON payment_events (provider, object_id) WHERE object_id IS NOT NULL;
CREATE INDEX payment_events_merchant_idx ON payment_events (merchant_id);
CREATE INDEX payment_events_status_idx ON payment_events (status);
CREATE INDEX payment_events_persisted_at_idx ON payment_events (persisted_at);
CREATE INDEX payment_events_unloaded_idx ON payment_events (id) WHERE NOT loaded_to_lake;

-- Down Migration
DROP TABLE payment_events;
