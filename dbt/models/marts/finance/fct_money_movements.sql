{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail') }}
-- The money journal (grain: one entry = one change to one movement on one day; append-only). A movement is money
-- recognised under the provider's semantics: a payment's capture (+), a paid refund (-), a lost dispute (-), each
-- in its own currency and minor unit, on its day (captured_date, refunded_date, lost_date), attributed to provider,
-- merchant and customer. When a movement changes (a restated refund, a late event, a reversed chargeback, a payment
-- whose merchant became known), the run appends the difference between the movement's new state and what the
-- journal already holds for it: a reversal of the old day and dims, and the new entry. Summing the journal therefore
-- always gives the current state, and the days an entry touches are exactly the days to recompute downstream
-- (the original's "today never refreshed" and "straddling bucket" bugs cannot happen).

with changed_keys as (
    {% if is_incremental() %}
    select 'capture:' || payment_key as movement_key from {{ ref('fct_payments') }} where _loaded_at > {{ loaded_watermark() }}
    union
    select 'refund:' || refund_key from {{ ref('fct_refunds') }} where _loaded_at > {{ loaded_watermark() }}
    union
    select 'dispute:' || dispute_key from {{ ref('fct_disputes') }} where _loaded_at > {{ loaded_watermark() }}
    {% else %}
    select cast(null as varchar) as movement_key where 1 = 0
    {% endif %}
),

-- incremental: the changed movements' new state is their fact's rows written since this model's last run (the
-- changed keys are exactly those rows), read by `_loaded_at` (zone maps) rather than by a join on the computed key
desired as (
    select
        'capture:' || payment_key as movement_key, 'capture' as movement_type, captured_date as revenue_date, provider,
        merchant_id, customer_id, currency, captured_amount_minor as amount_minor, cast(1 as bigint) as movement_count
    from {{ ref('fct_payments') }}
    where is_captured and captured_amount_minor <> 0{% if is_incremental() %} and _loaded_at > {{ loaded_watermark() }}{% endif %}
    union all
    select
        'refund:' || refund_key, 'refund', refunded_date, provider, merchant_id, customer_id, currency,
        -paid_amount_minor, cast(1 as bigint)
    from {{ ref('fct_refunds') }}
    where is_paid and paid_amount_minor <> 0{% if is_incremental() %} and _loaded_at > {{ loaded_watermark() }}{% endif %}
    union all
    select
        'dispute:' || dispute_key, 'dispute_loss', lost_date, provider, merchant_id, customer_id, currency,
        -lost_amount_minor, cast(1 as bigint)
    from {{ ref('fct_disputes') }}
    where outcome = 'lost' and lost_amount_minor <> 0{% if is_incremental() %} and _loaded_at > {{ loaded_watermark() }}{% endif %}
),

changes as (
    select movement_key, movement_type, revenue_date, provider, merchant_id, customer_id, currency, amount_minor,
        movement_count
    from desired
    {% if is_incremental() %}
    union all
    -- what the journal holds for the changed movements, negated: the sum is the difference to append
    select movement_key, movement_type, revenue_date, provider, merchant_id, customer_id, currency, -amount_minor,
        -movement_count
    from {{ this }}
    where movement_key in (select movement_key from changed_keys)
    {% endif %}
)

select
    movement_key,
    movement_type,
    revenue_date,
    provider,
    merchant_id,
    customer_id,
    currency,
    {{ sum_int("amount_minor") }} as amount_minor,
    {{ sum_int("movement_count") }} as movement_count,
    {{ loaded_at() }} as _loaded_at
from changes
group by movement_key, movement_type, revenue_date, provider, merchant_id, customer_id, currency
having sum(amount_minor) <> 0 or sum(movement_count) <> 0
