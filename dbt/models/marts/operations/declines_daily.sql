{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='decline_date', on_schema_change='fail') }}
-- Declined attempts per day and decline code (grain: decline_date, provider, decline_code, currency): every payment
-- event that reports a failure (a declined authorisation, a failed PaymentIntent, a settlement decline), its amount
-- in the currency's minor unit. Incremental: the days of new or changed events are recomputed.

with touched_days as (
    {% if is_incremental() %}
    select distinct event_date as day from {{ ref('int_payment_events') }}
    where _loaded_at > {{ loaded_watermark() }} and object_kind = 'payment'
    {% else %}
    select cast(null as date) as day where 1 = 0
    {% endif %}
)

select
    event_date as decline_date,
    provider,
    coalesce(failure_code, 'unknown') as decline_code,
    currency,
    count(*) as declined_attempts,
    count(distinct payment_key) as payments_declined,
    count(distinct customer_id) as customers_declined,
    {{ sum_int("amount_minor") }} as declined_amount_minor,
    {{ loaded_at() }} as _loaded_at
from {{ ref('int_payment_events') }}
where object_kind = 'payment' and is_failure
{% if is_incremental() %}
  and event_date in (select day from touched_days)
{% endif %}
group by event_date, provider, coalesce(failure_code, 'unknown'), currency
