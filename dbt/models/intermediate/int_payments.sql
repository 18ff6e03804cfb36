{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='payment_key', on_schema_change='fail') }}
-- One row per payment object (grain: payment_key = `<provider>:<payment object id>`), folded from all of its payment
-- events: who, how much was asked, how much money actually came in under the provider's semantics (Stripe succeeded,
-- Square completed, Adyen captured, Braintree settled; authorisations are not money), when, and how it ended.
-- first_loaded_at: the start of the run that first wrote the payment (kept when the payment is rewritten).
-- Incremental: every payment with a new or changed event is recomputed from all of its events (a late event for an
-- old payment lands in that payment).

with changed as (
    {% if is_incremental() %}
    select distinct payment_key from {{ ref('int_payment_events') }}
    where _loaded_at > {{ loaded_watermark() }} and object_kind = 'payment' and payment_key is not null
    {% else %}
    select cast(null as varchar) as payment_key where 1 = 0
    {% endif %}
),

events as (
    {% if is_incremental() %}
    select * from ({{ rows_with_keys(ref('int_payment_events'), 'payment_key', 'select payment_key from changed') }}) as e
    where object_kind = 'payment'
    {% else %}
    select * from {{ ref('int_payment_events') }}
    where object_kind = 'payment' and payment_key is not null
    {% endif %}
),

ordered as (
    select
        events.*,
        row_number() over (
            partition by payment_key order by provider_created_at desc, received_at desc, event_id desc
        ) as recency
    from events
),

folded as (
    select
        payment_key,
        min(provider) as provider,
        min(payment_object_id) as payment_object_id,
        max_by(merchant_id, provider_created_at) filter (where merchant_id is not null) as merchant_id,
        max_by(customer_id, provider_created_at) filter (where customer_id is not null) as customer_id,
        coalesce(
            max_by(currency, provider_created_at) filter (where is_money_in),
            min_by(currency, provider_created_at)
        ) as currency,
        min_by(amount_minor, provider_created_at) as requested_amount_minor,
        -- Adyen captures are separate modifications (partial captures add up); the others restate one amount.
        case when min(provider) = 'adyen'
            then cast(sum(amount_minor) filter (where is_money_in) as bigint)
            else max_by(amount_minor, provider_created_at) filter (where is_money_in)
        end as captured_amount_minor,
        min(provider_created_at) filter (where is_money_in) as captured_at,
        bool_or(is_money_in) as is_captured,
        bool_or(status in ('authorized', 'captured', 'succeeded', 'settled', 'approved')) as reached_authorization,
        count(*) filter (where is_failure) as failed_attempts,
        max_by(failure_code, provider_created_at) filter (where failure_code is not null) as last_failure_code,
        max(provider_created_at) filter (where is_failure) as last_failed_at,
        max(case when recency = 1 then status end) as latest_status,
        max(case when recency = 1 then event_type end) as latest_event_type,
        max_by(payment_method_type, provider_created_at) filter (where payment_method_type is not null) as payment_method_type,
        max_by(card_brand, provider_created_at) filter (where card_brand is not null) as card_brand,
        max_by(card_last_four, provider_created_at) filter (where card_last_four is not null) as card_last_four,
        min(provider_created_at) as created_at,
        max(provider_created_at) as last_event_at,
        count(*) as event_count,
        {{ sum_int("delivery_count") }} as delivery_count
    from ordered
    group by payment_key
)

select
    folded.payment_key,
    provider,
    payment_object_id,
    merchant_id,
    customer_id,
    currency,
    requested_amount_minor,
    coalesce(captured_amount_minor, 0) as captured_amount_minor,
    captured_at,
    {{ utc_date('captured_at') }} as captured_date,
    case
        when is_captured then 'succeeded'
        when {{ is_payment_failure('latest_status') }} then 'failed'
        when latest_status in ('canceled', 'cancelled', 'voided') then 'canceled'
        when reached_authorization then 'authorized'
        else 'pending'
    end as outcome,
    is_captured,
    reached_authorization or is_captured as reached_authorization,
    failed_attempts,
    last_failure_code,
    last_failed_at,
    latest_status,
    latest_event_type,
    payment_method_type,
    card_brand,
    card_last_four,
    created_at,
    {{ utc_date('created_at') }} as created_date,
    last_event_at,
    event_count,
    delivery_count,
    {% if is_incremental() %}
    coalesce(known.first_loaded_at, {{ loaded_at() }}) as first_loaded_at,
    {% else %}
    {{ loaded_at() }} as first_loaded_at,
    {% endif %}
    {{ loaded_at() }} as _loaded_at
from folded
{% if is_incremental() %}
-- when the payment was first written (int_customer_payments tells new payments from changed ones by it); the lookup
-- leaves this table's side unfiltered so that DuckDB builds its hash table on the changed keys
left join (
    select payment_key, first_loaded_at from {{ this }} where payment_key in (select payment_key from changed)
) as known on known.payment_key = folded.payment_key
{% endif %}
