-- Up Migration
-- The churn history reads a customer's newest 500 rows ordered by (provider_created_at DESC NULLS LAST, id DESC).
-- The earlier index sorts NULLS FIRST, so heavy customers were read by a sequential scan and a sort of every row of
-- the table that matched (tens of milliseconds per batch once a customer has thousands of payments).

CREATE INDEX payment_events_customer_history_idx
  ON payment_events (customer_id, provider_created_at DESC NULLS LAST, id DESC)
  WHERE customer_id IS NOT NULL;

-- Down Migration
DROP INDEX payment_events_customer_history_idx;
