{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='payment_key', on_schema_change='fail') }}
-- One row per payment (grain: payment_key): the payment (int_payments), what was refunded and lost to disputes, and
-- the fraud score the workflows gave its events. net_amount_minor = captured - paid refunds - lost disputes, in the
-- minor unit of `currency` (a refund or dispute in another currency is not netted here; fct_money_movements keeps it
-- in its own currency).
-- Incremental: payments that changed, or whose refunds, disputes or fraud decisions changed.

with changed as (
    {% if is_incremental() %}
    select payment_key from {{ ref('int_payments') }} where _loaded_at > {{ loaded_watermark() }}
    union
    select payment_key from {{ ref('fct_refunds') }} where _loaded_at > {{ loaded_watermark() }} and payment_key is not null
    union
    select payment_key from {{ ref('fct_disputes') }} where _loaded_at > {{ loaded_watermark() }} and payment_key is not null
    union
    select payment_key from {{ ref('int_payment_decisions') }}
    where _loaded_at > {{ loaded_watermark() }} and object_kind = 'payment' and payment_key is not null
    {% else %}
    select cast(null as varchar) as payment_key where 1 = 0
    {% endif %}
),

payments as (
    select * from {{ ref('int_payments') }}
    {% if is_incremental() %}
    where payment_key in (select payment_key from changed)
    {% endif %}
),

refunds as (
    select
        r.payment_key,
        count(*) as refund_count,
        {{ sum_int("case when r.currency = p.currency then r.paid_amount_minor else 0 end") }} as refunded_amount_minor
    from {{ ref('fct_refunds') }} as r
    join payments as p on p.payment_key = r.payment_key
    group by r.payment_key
),

disputes as (
    select
        d.payment_key,
        count(*) as dispute_count,
        case when bool_or(d.outcome = 'lost') then 'lost' when bool_or(d.outcome = 'open') then 'open' else 'won' end
            as dispute_outcome,
        {{ sum_int("case when d.currency = p.currency then d.lost_amount_minor else 0 end") }} as dispute_lost_amount_minor
    from {{ ref('fct_disputes') }} as d
    join payments as p on p.payment_key = d.payment_key
    group by d.payment_key
),

scores as (
    select
        payment_key,
        max(fraud_score) as max_fraud_score,
        max_by(fraud_risk_level, fraud_score) as fraud_risk_level,
        max_by(fraud_model_version, persisted_at) as fraud_model_version
    from {{ ref('int_payment_decisions') }}
    where object_kind = 'payment' and payment_key in (select payment_key from payments)
    group by payment_key
)

select
    p.payment_key,
    p.provider,
    p.payment_object_id,
    p.merchant_id,
    p.customer_id,
    p.currency,
    p.requested_amount_minor,
    p.captured_amount_minor,
    coalesce(r.refunded_amount_minor, 0) as refunded_amount_minor,
    coalesce(d.dispute_lost_amount_minor, 0) as dispute_lost_amount_minor,
    p.captured_amount_minor - coalesce(r.refunded_amount_minor, 0) - coalesce(d.dispute_lost_amount_minor, 0)
        as net_amount_minor,
    p.outcome,
    p.is_captured,
    p.captured_at,
    p.captured_date,
    p.failed_attempts,
    p.last_failure_code,
    p.latest_status,
    coalesce(r.refund_count, 0) as refund_count,
    coalesce(d.dispute_count, 0) as dispute_count,
    d.dispute_outcome,
    s.max_fraud_score,
    s.fraud_risk_level,
    s.fraud_model_version,
    p.payment_method_type,
    p.card_brand,
    p.card_last_four,
    p.created_at,
    p.created_date,
    p.last_event_at,
    p.event_count,
    p.delivery_count,
    {{ loaded_at() }} as _loaded_at
from payments as p
left join refunds as r on r.payment_key = p.payment_key
left join disputes as d on d.payment_key = p.payment_key
left join scores as s on s.payment_key = p.payment_key
