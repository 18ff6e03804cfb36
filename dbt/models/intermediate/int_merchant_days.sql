{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='activity_date', on_schema_change='fail') }}
-- depends_on: {{ ref('int_payment_events') }}
-- A merchant's risk activity per day (grain: merchant_id, provider, activity_date): payments started, succeeded and
-- failed that day, disputes opened and lost that day (with the lost amount in the reporting currency), and the
-- distribution of the fraud scores the workflows gave that day's payment events in ten buckets of 0.1. Additive, so
-- merchant_risk sums it instead of rescanning every payment.
-- Incremental: days touched by changed payments, disputes or decisions are recomputed.

{#- The touched days, found before the model's query runs and written into it as a list of date literals: a day
    list from a subquery is estimated at thousands of rows, and DuckDB then builds its hash tables on the 5- and
    10-million-row tables (RIGHT_SEMI joins) instead of filtering their scans with a handful of dates. -#}
{%- set touched_days_sql -%}
    {{ days_of_changed_payments() }}
    union
    select distinct e.event_date from {{ ref('int_payment_events') }} as e
    where e.dispute_key in (select dispute_key from {{ ref('fct_disputes') }} where _loaded_at > {{ loaded_watermark() }})
    union
    select distinct event_date from {{ ref('int_payment_decisions') }} where _loaded_at > {{ loaded_watermark() }}
{%- endset -%}
{%- set touched = [] -%}
{%- if is_incremental() and execute -%}
    {%- for day in run_query(touched_days_sql).columns[0].values() | reject('none') | sort -%}
        {%- do touched.append("date '" ~ day ~ "'") -%}
    {%- endfor -%}
{%- endif -%}
{%- set touched_days = touched | join(', ') if touched else 'null' %}

with payments as (
    select merchant_id, provider, created_date as activity_date,
        count(*) as payments_started,
        count(*) filter (where outcome = 'succeeded') as payments_succeeded,
        count(*) filter (where outcome = 'failed') as payments_failed,
        0 as disputes_opened, 0 as disputes_lost, cast(0 as decimal(38, 4)) as lost_reporting,
        0 as scored_events, 0 as high_risk_events,
        0 as b0, 0 as b1, 0 as b2, 0 as b3, 0 as b4, 0 as b5, 0 as b6, 0 as b7, 0 as b8, 0 as b9
    from {{ ref('int_payments') }}
    where merchant_id is not null
    {% if is_incremental() %} and created_date in ({{ touched_days }}) {% endif %}
    group by merchant_id, provider, created_date
),

opened as (
    select merchant_id, provider, opened_date as activity_date,
        0, 0, 0, count(*), 0, cast(0 as decimal(38, 4)), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    from {{ ref('fct_disputes') }}
    where merchant_id is not null
    {% if is_incremental() %} and opened_date in ({{ touched_days }}) {% endif %}
    group by merchant_id, provider, opened_date
),

lost as (
    select d.merchant_id, d.provider, d.lost_date as activity_date,
        0, 0, 0, 0, count(*),
        {{ sum_reporting(reporting_exact('d.lost_amount_minor', 'c.minor_unit_exponent', 'r.rate')) }},
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    from {{ ref('fct_disputes') }} as d
    left join {{ ref('currencies') }} as c on c.currency = d.currency
    left join {{ ref('int_exchange_rates') }} as r
        on {{ rate_in_effect('r', 'd.currency', 'd.lost_date') }}
    where d.merchant_id is not null and d.outcome = 'lost'
    {% if is_incremental() %} and d.lost_date in ({{ touched_days }}) {% endif %}
    group by d.merchant_id, d.provider, d.lost_date
),

scored as (
    select o.merchant_id, o.provider, o.event_date as activity_date,
        0, 0, 0, 0, 0, cast(0 as decimal(38, 4)),
        count(*),
        count(*) filter (where o.fraud_risk_level = 'high' or o.fraud_score >= {{ var('fraud_alert_score') }}),
        {% for b in range(10) -%}
        count(*) filter (where least(floor(o.fraud_score * 10), 9) = {{ b }}){{ ',' if not loop.last }}
        {% endfor %}
    from {{ ref('int_payment_decisions') }} as o
    where o.object_kind = 'payment' and o.merchant_id is not null and o.fraud_score is not null
    {% if is_incremental() %} and o.event_date in ({{ touched_days }}) {% endif %}
    group by o.merchant_id, o.provider, o.event_date
),

unioned as (
    select * from payments
    union all select * from opened
    union all select * from lost
    union all select * from scored
)

select
    merchant_id,
    provider,
    activity_date,
    {{ sum_int("payments_started") }} as payments_started,
    {{ sum_int("payments_succeeded") }} as payments_succeeded,
    {{ sum_int("payments_failed") }} as payments_failed,
    {{ sum_int("disputes_opened") }} as disputes_opened,
    {{ sum_int("disputes_lost") }} as disputes_lost,
    sum(lost_reporting) as dispute_losses_reporting,
    {{ sum_int("scored_events") }} as scored_events,
    {{ sum_int("high_risk_events") }} as high_risk_events,
    {% for b in range(10) -%}
    {{ sum_int("b" ~ b) }} as fraud_score_bucket_{{ b }},
    {% endfor %}
    {{ loaded_at() }} as _loaded_at
from unioned
group by merchant_id, provider, activity_date
