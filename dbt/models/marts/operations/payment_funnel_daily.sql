{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='created_date', on_schema_change='fail') }}
-- depends_on: {{ ref('int_payment_events') }}
-- The payment funnel per day the payments started (grain: created_date, provider): started, reached authorisation,
-- succeeded (money in), failed, canceled, still pending; conversion = succeeded / started.
-- Incremental: the days of every event of each changed payment are recomputed (a late first event moves a payment
-- to an earlier day, and both days are recomputed).

with touched_days as (
    {% if is_incremental() %}
    {{ days_of_changed_payments() }}
    {% else %}
    select cast(null as date) as day where 1 = 0
    {% endif %}
)

select
    created_date,
    provider,
    count(*) as payments_started,
    count(*) filter (where reached_authorization) as payments_authorized,
    count(*) filter (where outcome = 'succeeded') as payments_succeeded,
    count(*) filter (where outcome = 'failed') as payments_failed,
    count(*) filter (where outcome = 'canceled') as payments_canceled,
    count(*) filter (where outcome in ('pending', 'authorized')) as payments_open,
    count(*) filter (where failed_attempts > 0 and outcome = 'succeeded') as succeeded_after_failure,
    {{ safe_ratio("count(*) filter (where outcome = 'succeeded')", 'count(*)') }} as conversion_rate,
    {{ safe_ratio("count(*) filter (where reached_authorization)", 'count(*)') }} as authorization_rate,
    {{ loaded_at() }} as _loaded_at
from {{ ref('int_payments') }}
{% if is_incremental() %}
where created_date in (select day from touched_days)
{% endif %}
group by created_date, provider
