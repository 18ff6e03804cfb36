{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='event_id', on_schema_change='fail') }}
-- The workflows' current decision on each payment event, with the event's keys (grain: event_id): int_payment_outcomes
-- joined to int_payment_events once per build, for the events whose decision or whose event row changed, so that the
-- marts that need a score's payment, customer or merchant (fct_payments, customer_360, int_merchant_days,
-- int_failed_payments, fraud_scores_daily, fraud_alerts) read one table by key instead of each joining the two
-- 10-million-row tables. A decision whose event has not been loaded yet (or an event without a decision) has no row;
-- it gets one in the build that loads the other half, with that build's `_loaded_at`, so the marts see it as changed.
-- Incremental: events with a decision or an event row written since this model's last run, recomputed whole.

{% if is_incremental() %}
with changed as (
    select event_id from {{ ref('int_payment_outcomes') }} where _loaded_at > {{ loaded_watermark() }}
    union
    select event_id from {{ ref('int_payment_events') }} where _loaded_at > {{ loaded_watermark() }}
)
{% endif %}

select
    o.event_id,
    e.provider,
    e.object_kind,
    e.event_type,
    e.payment_key,
    e.customer_id,
    e.merchant_id,
    e.amount_minor,
    e.currency,
    e.is_failure,
    e.provider_created_at as event_created_at,
    o.event_date,
    o.fraud_score,
    o.fraud_risk_level,
    o.fraud_model_version,
    o.churn_score,
    o.churn_risk_level,
    o.churn_model_version,
    o.retry_action,
    o.retry_delay_seconds,
    o.persisted_at,
    {{ loaded_at() }} as _loaded_at
{% if is_incremental() %}
-- the same set on both sides, each read in two parts (macro rows_with_keys): neither table is scanned whole
from ({{ rows_with_keys(ref('int_payment_outcomes'), 'event_id', 'select event_id from changed') }}) as o
join ({{ rows_with_keys(ref('int_payment_events'), 'event_id', 'select event_id from changed') }}) as e
    on e.event_id = o.event_id
{% else %}
from {{ ref('int_payment_outcomes') }} as o
join {{ ref('int_payment_events') }} as e on e.event_id = o.event_id
{% endif %}
