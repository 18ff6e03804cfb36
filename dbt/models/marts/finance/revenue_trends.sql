{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='date_day', on_schema_change='fail') }}
-- Daily net revenue with its running total and 7-day average (grain: date_day, currency), every day from a
-- currency's first revenue day to the last revenue day in the data, zero-filled.
-- Incremental: only days from the earliest day touched by new journal entries onwards are emitted (their running
-- totals change); older days are neither re-emitted nor overwritten (the original zero-filled history on every run).
-- The running total continues from this table's value on the day before.

{% set start_expr %}
    {% if is_incremental() %}
    (select min(revenue_date) from {{ ref('fct_money_movements') }} where _loaded_at > {{ loaded_watermark() }})
    {% else %}
    (select min(revenue_date) from {{ ref('fct_money_movements') }})
    {% endif %}
{% endset %}

with bounds as (
    select
        {{ start_expr }} as first_day,
        (select max(revenue_date) from {{ ref('fct_money_movements') }}) as last_day
),

currency_start as (
    select currency, min(revenue_date) as first_revenue_day
    from {{ ref('fct_money_movements') }}
    group by currency
),

spine as (
    -- six days before the first emitted day feed the moving average
    select s.date_day
    from {{ date_spine_between("(select first_day - interval '6' day from bounds)", '(select last_day from bounds)') }} as s
),

grid as (
    select spine.date_day, currency_start.currency
    from spine
    join currency_start on spine.date_day >= currency_start.first_revenue_day
),

daily as (
    select revenue_date, currency, {{ sum_int("amount_minor") }} as net_minor
    from {{ ref('fct_money_movements') }}
    where revenue_date >= (select first_day - interval '6' day from bounds)
    group by revenue_date, currency
),

filled as (
    select grid.date_day, grid.currency, coalesce(daily.net_minor, 0) as net_minor
    from grid
    left join daily on daily.revenue_date = grid.date_day and daily.currency = grid.currency
),

{% if is_incremental() %}
carried as (
    select t.currency, t.cumulative_net_minor
    from {{ this }} as t
    where t.date_day = (select first_day - interval '1' day from bounds)
),
{% endif %}

windowed as (
    select
        filled.date_day,
        filled.currency,
        filled.net_minor,
        sum(case when filled.date_day >= (select first_day from bounds) then filled.net_minor else 0 end)
            over (partition by filled.currency order by filled.date_day rows between unbounded preceding and current row)
            as running_from_first_day,
        avg(cast(filled.net_minor as double))
            over (partition by filled.currency order by filled.date_day rows between 6 preceding and current row)
            as net_minor_7d_avg
    from filled
)

select
    w.date_day,
    w.currency,
    w.net_minor,
    {% if is_incremental() %}coalesce(carried.cumulative_net_minor, 0) + {% endif %}w.running_from_first_day
        as cumulative_net_minor,
    w.net_minor_7d_avg,
    {{ loaded_at() }} as _loaded_at
from windowed as w
{% if is_incremental() %}
left join carried on carried.currency = w.currency
{% endif %}
where w.date_day >= (select first_day from bounds)
