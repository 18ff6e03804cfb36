-- Up Migration
-- Ownership of an event_id by the batch workflow that processes it (PaymentBatchWorkflow): the first workflow to
-- claim an event processes it; a redelivered event in a differently cut batch is reported as a duplicate instead of
-- running again. Per-event workflows need no claim: their workflow id is derived from the event_id.

CREATE TABLE payment_event_claims (
  event_id    text        PRIMARY KEY,
  workflow_id text        NOT NULL,
  claimed_at  timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE payment_event_claims;
