{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='refund_key', on_schema_change='fail') }}
-- One row per refund object (grain: refund_key = `<provider>:<refund object id>`). A refund is restated by a later
-- event of the same refund (Stripe refund.updated, Square refund.updated, Adyen REFUND_FAILED): the event with the
-- latest provider timestamp is the refund's state and amount. The money returned counts on the day the refund was
-- first paid (refunded_date); a restatement replaces the amount on that day (see fct_money_movements).
-- Merchant and customer come from the refunded payment when the refund does not carry them (Stripe, Square).
-- Incremental: refunds with a new event, and refunds whose payment changed, are recomputed from all their events.

with changed as (
    {% if is_incremental() %}
    select distinct refund_key from {{ ref('int_payment_events') }}
    where _loaded_at > {{ loaded_watermark() }} and refund_key is not null
    union
    select distinct e.refund_key
    from {{ ref('int_payment_events') }} as e
    join {{ ref('int_payments') }} as p on p.payment_key = e.payment_key
    where p._loaded_at > {{ loaded_watermark() }} and e.refund_key is not null
    {% else %}
    select cast(null as varchar) as refund_key where 1 = 0
    {% endif %}
),

events as (
    select * from {{ ref('int_payment_events') }}
    where object_kind = 'refund' and refund_key is not null
    {% if is_incremental() %}
      and refund_key in (select refund_key from changed)
    {% endif %}
),

ordered as (
    select events.*,
        row_number() over (partition by refund_key order by provider_created_at desc, received_at desc, event_id desc) as recency,
        {{ is_refund_paid('provider', 'event_type', 'status') }} as is_paid_event
    from events
),

folded as (
    select
        refund_key,
        min(provider) as provider,
        min(refund_key) as refund_object_key,
        max_by(payment_key, provider_created_at) filter (where payment_key is not null) as payment_key,
        max_by(merchant_id, provider_created_at) filter (where merchant_id is not null) as refund_merchant_id,
        max_by(customer_id, provider_created_at) filter (where customer_id is not null) as refund_customer_id,
        max(case when recency = 1 then amount_minor end) as amount_minor,
        max(case when recency = 1 then currency end) as currency,
        max(case when recency = 1 then status end) as status,
        max(case when recency = 1 then event_type end) as latest_event_type,
        bool_or(recency = 1 and is_paid_event) as is_paid,
        min(provider_created_at) as requested_at,
        min(provider_created_at) filter (where is_paid_event) as first_paid_at,
        count(distinct amount_minor) - 1 as restatement_count,
        count(*) as event_count
    from ordered
    group by refund_key
)

select
    f.refund_key,
    f.provider,
    f.payment_key,
    p.payment_key is not null as is_linked,
    coalesce(p.merchant_id, f.refund_merchant_id) as merchant_id,
    coalesce(p.customer_id, f.refund_customer_id) as customer_id,
    f.amount_minor,
    f.currency,
    f.status,
    f.latest_event_type,
    f.is_paid,
    case when f.is_paid then f.amount_minor else 0 end as paid_amount_minor,
    f.requested_at,
    f.first_paid_at,
    {{ utc_date('f.first_paid_at') }} as refunded_date,
    f.restatement_count,
    f.event_count,
    {{ loaded_at() }} as _loaded_at
from folded as f
left join {{ ref('int_payments') }} as p on p.payment_key = f.payment_key
