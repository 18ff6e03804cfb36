{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='score_hour', on_schema_change='fail') }}
-- Scores per hour, model and model version (grain: score_hour, model, model_version): how many events each version
-- scored and the sum, min and max of its scores (mean = score_sum / scored_events, additive across hours). The ML
-- dashboard's score-over-time panel.
-- Incremental: the hours of the decisions that changed since this model's last run (whether or not they still carry a
-- score) are recomputed from all of their scores. A decision's hour is its event's provider time, the same in every
-- version of the decision; a changed decision without one (timed by persisted_at, which a restatement moves)
-- recomputes every hour.
-- depends_on: {{ ref('int_payment_outcomes') }}

{% if is_incremental() %}
with changed as (
    select provider_created_at, persisted_at
    from {{ ref('int_payment_outcomes') }}
    where _loaded_at > {{ loaded_watermark() }}
),

touched_hours as (
    select distinct {{ utc_hour('coalesce(provider_created_at, persisted_at)') }} as score_hour from changed
)
{% endif %}

select
    {{ utc_hour('scored_at') }} as score_hour,
    model,
    model_version,
    cast(count(*) as bigint) as scored_events,
    sum(score) as score_sum,
    min(score) as min_score,
    max(score) as max_score,
    {{ loaded_at() }} as _loaded_at
from {{ ref('int_model_scores') }}
{% if is_incremental() %}
where {{ utc_hour('scored_at') }} in (select score_hour from touched_hours)
   or exists (select 1 from changed where provider_created_at is null)
{% endif %}
group by 1, 2, 3
