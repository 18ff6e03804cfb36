{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='score_date', on_schema_change='fail') }}
-- The fraud scores the workflows assigned, per day (grain: score_date, provider, model_version, fraud_risk_level):
-- scored payment events, how many of them are alerts (the rule of gold.fraud_alerts: risk level high or a score at or
-- above var('fraud_alert_score')), and the sum of their scores (mean = score_sum / scored_events, additive across
-- rows). The model versions in use and the risk levels, from the marts instead of PostgreSQL.
-- Incremental: the days of the decisions that changed since this model's last run in int_payment_decisions (a new
-- decision version, or a decision whose event was (re)written: a late payment event makes its decision count) are
-- recomputed from all of their decisions. A decision's day is its event's provider time, the same in every version of
-- the decision; a changed decision without one (dated by persisted_at, which a restatement moves) recomputes every day.

{% set score_date = "coalesce(o.event_date, " ~ utc_date('o.persisted_at') ~ ")" %}
{% if is_incremental() %}
with changed as (
    select o.event_date, o.persisted_at
    from {{ ref('int_payment_decisions') }} as o
    where o._loaded_at > {{ loaded_watermark() }}
),

touched_days as (
    select {{ score_date }} as day from changed as o
    union
    select {{ score_date }} from {{ ref('int_payment_decisions') }} as o
    where exists (select 1 from changed where event_date is null)
),

decisions as (
    select * from {{ ref('int_payment_decisions') }} as o
    where o.fraud_score is not null and {{ score_date }} in (select day from touched_days)
)
{% endif %}

select
    {{ score_date }} as score_date,
    o.provider,
    coalesce(o.fraud_model_version, 'unknown') as model_version,
    coalesce(o.fraud_risk_level, 'unknown') as fraud_risk_level,
    cast(count(*) as bigint) as scored_events,
    cast(sum(case when o.fraud_risk_level = 'high' or o.fraud_score >= {{ var('fraud_alert_score') }} then 1 else 0 end)
        as bigint) as alerts,
    sum(cast(o.fraud_score as double)) as score_sum,
    min(o.fraud_score) as min_score,
    max(o.fraud_score) as max_score,
    {{ loaded_at() }} as _loaded_at
from {% if is_incremental() %}decisions{% else %}{{ ref('int_payment_decisions') }}{% endif %} as o
where o.fraud_score is not null and o.object_kind = 'payment'
group by 1, 2, 3, 4
