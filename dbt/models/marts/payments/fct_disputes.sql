{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='dispute_key', on_schema_change='fail') }}
-- One row per dispute (grain: dispute_key; Adyen's chargeback and its reversal are one dispute of the payment).
-- outcome: lost (Stripe closed lost, Braintree lost or accepted, an Adyen chargeback not reversed), won, or open.
-- A lost dispute takes its amount out of revenue on lost_date (Adyen: the chargeback day, when Adyen debits).
-- Incremental: disputes with a new event, and disputes whose payment changed, are recomputed from all their events.

with changed as (
    {% if is_incremental() %}
    select distinct dispute_key from {{ ref('int_payment_events') }}
    where _loaded_at > {{ loaded_watermark() }} and dispute_key is not null
    union
    select distinct e.dispute_key
    from {{ ref('int_payment_events') }} as e
    join {{ ref('int_payments') }} as p on p.payment_key = e.payment_key
    where p._loaded_at > {{ loaded_watermark() }} and e.dispute_key is not null
    {% else %}
    select cast(null as varchar) as dispute_key where 1 = 0
    {% endif %}
),

events as (
    select * from {{ ref('int_payment_events') }}
    where object_kind = 'dispute' and dispute_key is not null
    {% if is_incremental() %}
      and dispute_key in (select dispute_key from changed)
    {% endif %}
),

ordered as (
    select events.*,
        row_number() over (partition by dispute_key order by provider_created_at desc, received_at desc, event_id desc) as recency
    from events
),

folded as (
    select
        dispute_key,
        min(provider) as provider,
        max_by(payment_key, provider_created_at) filter (where payment_key is not null) as payment_key,
        max_by(merchant_id, provider_created_at) filter (where merchant_id is not null) as dispute_merchant_id,
        max_by(customer_id, provider_created_at) filter (where customer_id is not null) as dispute_customer_id,
        min_by(amount_minor, provider_created_at) as amount_minor,
        min_by(currency, provider_created_at) as currency,
        max(case when recency = 1 then event_type end) as latest_event_type,
        max(case when recency = 1 then status end) as latest_status,
        max(case when recency = 1 then {{ dispute_outcome('provider', 'event_type', 'status') }} end) as outcome,
        min(provider_created_at) as opened_at,
        max(provider_created_at) as last_event_at,
        min(provider_created_at) filter (where event_type in ('dispute.created', 'dispute.second_chargeback')) as chargeback_at,
        max_by({{ json_text('metadata', 'dispute_reason') }}, provider_created_at) as reason,
        count(*) as event_count
    from ordered
    group by dispute_key
)

select
    f.dispute_key,
    f.provider,
    f.payment_key,
    p.payment_key is not null as is_linked,
    coalesce(p.merchant_id, f.dispute_merchant_id) as merchant_id,
    coalesce(p.customer_id, f.dispute_customer_id) as customer_id,
    f.amount_minor,
    f.currency,
    f.latest_event_type,
    f.latest_status,
    f.outcome,
    f.reason,
    f.opened_at,
    {{ utc_date('f.opened_at') }} as opened_date,
    case when f.outcome = 'lost'
        then case when f.provider = 'adyen' then coalesce(f.chargeback_at, f.opened_at) else f.last_event_at end
    end as lost_at,
    {{ utc_date("case when f.outcome = 'lost' then case when f.provider = 'adyen' then coalesce(f.chargeback_at, f.opened_at) else f.last_event_at end end") }} as lost_date,
    case when f.outcome = 'lost' then f.amount_minor else 0 end as lost_amount_minor,
    f.event_count,
    {{ loaded_at() }} as _loaded_at
from folded as f
left join {{ ref('int_payments') }} as p on p.payment_key = f.payment_key
