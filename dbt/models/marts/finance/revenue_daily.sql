{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='revenue_date', on_schema_change='fail') }}
-- Net revenue per day (grain: revenue_date, provider, merchant_id, currency): captures, paid refunds and lost
-- disputes in the currency's minor unit, and the net converted to the reporting currency at the rate valid that day
-- (seed exchange_rates; null when no rate is known yet, flagged by a test).
-- Incremental: every day touched by a journal entry since the last run is recomputed from all of that day's entries
-- (never from the new entries alone, and the current day included).

with touched_days as (
    {% if is_incremental() %}
    select distinct revenue_date from {{ ref('fct_money_movements') }} where _loaded_at > {{ loaded_watermark() }}
    {% else %}
    select cast(null as date) as revenue_date where 1 = 0
    {% endif %}
),

entries as (
    select * from {{ ref('fct_money_movements') }}
    {% if is_incremental() %}
    where revenue_date in (select revenue_date from touched_days)
    {% endif %}
),

daily as (
    select
        revenue_date,
        provider,
        merchant_id,
        currency,
        {{ sum_int("case when movement_type = 'capture' then amount_minor else 0 end") }} as gross_minor,
        -{{ sum_int("case when movement_type = 'refund' then amount_minor else 0 end") }} as refunds_minor,
        -{{ sum_int("case when movement_type = 'dispute_loss' then amount_minor else 0 end") }} as dispute_losses_minor,
        {{ sum_int("amount_minor") }} as net_minor,
        {{ sum_int("case when movement_type = 'capture' then movement_count else 0 end") }} as captured_payments,
        {{ sum_int("case when movement_type = 'refund' then movement_count else 0 end") }} as refunds,
        {{ sum_int("case when movement_type = 'dispute_loss' then movement_count else 0 end") }} as disputes_lost
    from entries
    group by revenue_date, provider, merchant_id, currency
    having sum(amount_minor) <> 0 or sum(movement_count) <> 0
        or sum(case when movement_type = 'capture' then amount_minor else 0 end) <> 0
)

select
    daily.*,
    c.minor_unit_exponent,
    r.rate as rate_to_reporting,
    {{ to_reporting('daily.net_minor', 'c.minor_unit_exponent', 'r.rate') }} as net_reporting,
    '{{ var('reporting_currency') }}' as reporting_currency,
    {{ loaded_at() }} as _loaded_at
from daily
left join {{ ref('currencies') }} as c on c.currency = daily.currency
left join {{ ref('int_exchange_rates') }} as r
    on {{ rate_in_effect('r', 'daily.currency', 'daily.revenue_date') }}
