-- The workflows' decisions (grain: one version of one event's decision; the latest persisted_at per event_id is the
-- current one).
select
    event_id,
    provider,
    event_type,
    merchant_id,
    customer_id,
    cast(amount_minor as bigint) as amount_minor,
    currency,
    status,
    outcome,
    validation_status,
    validation_errors,
    fraud_score,
    fraud_risk_level,
    fraud_model_version,
    retry_action,
    cast(retry_delay_seconds as integer) as retry_delay_seconds,
    churn_score,
    churn_risk_level,
    churn_model_version,
    workflow_id,
    provider_created_at,
    received_at,
    persisted_at,
    cast(pg_id as bigint) as pg_id
from {{ bronze('payment_outcomes') }}
