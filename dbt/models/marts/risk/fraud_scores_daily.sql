-- The fraud scores the workflows assigned, per day (grain: score_date, provider, model_version, fraud_risk_level):
-- scored payment events, how many of them are alerts (the rule of gold.fraud_alerts: risk level high or a score at or
-- above var('fraud_alert_score')), and the sum of their scores (mean = score_sum / scored_events, additive across
-- rows). The model versions in use and the risk levels, from the marts instead of PostgreSQL.
-- Incremental: every day of a changed decision (its old and new day, macro buckets_of_changed_outcomes) or of a
-- decision whose payment event was (re)written since the last run is recomputed from all of that day's decisions
-- (deleted first by the pre-hook, so that a day left without any decision goes too).
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='score_date', on_schema_change='fail',
    pre_hook="{{ delete_buckets('score_date', touched_score_days()) }}") }}
-- depends_on: {{ ref('stg_bronze__payment_outcomes') }}

with scored as (
    select
        coalesce(o.event_date, {{ utc_date('o.persisted_at') }}) as score_date,
        o.*
    from {{ ref('int_payment_outcomes') }} as o
    join {{ ref('int_payment_events') }} as e on e.event_id = o.event_id
    where o.fraud_score is not null and e.object_kind = 'payment'
)

select
    score_date,
    provider,
    coalesce(fraud_model_version, 'unknown') as model_version,
    coalesce(fraud_risk_level, 'unknown') as fraud_risk_level,
    cast(count(*) as bigint) as scored_events,
    cast(sum(case when fraud_risk_level = 'high' or fraud_score >= {{ var('fraud_alert_score') }} then 1 else 0 end)
        as bigint) as alerts,
    sum(cast(fraud_score as double)) as score_sum,
    min(fraud_score) as min_score,
    max(fraud_score) as max_score,
    {{ loaded_at() }} as _loaded_at
from scored
{% if is_incremental() %}
where score_date in ({{ touched_score_days() }})
{% endif %}
group by 1, 2, 3, 4
