{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='payment_key', on_schema_change='fail') }}
-- Every payment that failed at least once (grain: payment_key), with what the workflows advised (retry action of
-- its latest failure) and whether it was recovered: the same payment succeeded after failing (a retry), or the same
-- customer paid the same merchant within var('recovery_window_days') after the failure (a new payment).
-- Incremental: failed payments of every customer and merchant pair with a changed payment are recomputed.

{% set window_days = var('recovery_window_days') %}
{% set lookup_by_customer = is_incremental() and target.type == 'duckdb' %}

with changed_pairs as (
    {% if is_incremental() %}
    select distinct customer_id, merchant_id from {{ ref('int_payments') }}
    where _loaded_at > {{ loaded_watermark() }} and customer_id is not null
    {% else %}
    select cast(null as varchar) as customer_id, cast(null as varchar) as merchant_id where 1 = 0
    {% endif %}
),

failed as (
    select p.*
    from {{ ref('int_payments') }} as p
    {% if is_incremental() %}
    left join changed_pairs as c on c.customer_id = p.customer_id and c.merchant_id = p.merchant_id
    {% endif %}
    where p.failed_attempts > 0
    {% if is_incremental() %}
      and (c.customer_id is not null or p._loaded_at > {{ loaded_watermark() }})
    {% endif %}
),

advice as (
    select
        payment_key,
        max_by(retry_action, event_created_at) as retry_action,
        max_by(retry_delay_seconds, event_created_at) as retry_delay_seconds
    from {{ ref('int_payment_decisions') }}
    where is_failure and payment_key in (select payment_key from failed)
    group by payment_key
),

{% if lookup_by_customer %}
-- the payments of the recomputed customers, looked up by customer alone (materialized, so that the is_captured filter
-- below is not pushed into the scan: with a filter on it DuckDB estimates the 5-million-row side smaller than the key
-- set and builds its hash table on it, ~1 s even when nothing changed)
customer_payments as materialized (
    select customer_id, merchant_id, payment_key, is_captured, captured_at, captured_amount_minor
    from {{ ref('int_payments') }}
    where customer_id in (select customer_id from failed)
),
{% endif %}

later_success as (
    select
        f.payment_key,
        min(s.captured_at) as recovered_at,
        min_by(s.payment_key, s.captured_at) as recovered_by_payment_key,
        min_by(s.captured_amount_minor, s.captured_at) as recovered_amount_minor
    from failed as f
    join {% if lookup_by_customer %}customer_payments{% else %}{{ ref('int_payments') }}{% endif %} as s
        on s.customer_id = f.customer_id
        and s.merchant_id = f.merchant_id
        and s.is_captured
        and s.payment_key <> f.payment_key
        and s.captured_at > f.last_failed_at
        and s.captured_at <= f.last_failed_at + interval '{{ window_days }}' day
    group by f.payment_key
)

select
    f.payment_key,
    f.provider,
    f.merchant_id,
    f.customer_id,
    f.currency,
    f.requested_amount_minor,
    f.failed_attempts,
    f.last_failure_code as failure_code,
    f.last_failed_at,
    {{ utc_date('f.last_failed_at') }} as failed_date,
    coalesce(a.retry_action, 'none') as retry_action,
    a.retry_delay_seconds,
    case
        when f.is_captured then 'same_payment'
        when l.recovered_at is not null then 'new_payment'
        else 'not_recovered'
    end as recovery,
    case when f.is_captured then f.captured_at else l.recovered_at end as recovered_at,
    case when f.is_captured then f.captured_amount_minor else coalesce(l.recovered_amount_minor, 0) end
        as recovered_amount_minor,
    l.recovered_by_payment_key,
    {{ loaded_at() }} as _loaded_at
from failed as f
left join advice as a on a.payment_key = f.payment_key
left join later_success as l on l.payment_key = f.payment_key
