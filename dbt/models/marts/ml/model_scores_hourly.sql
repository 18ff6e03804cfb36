{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='score_hour', on_schema_change='fail',
    pre_hook="{{ delete_buckets('score_hour', touched_score_hours()) }}") }}
-- depends_on: {{ ref('stg_bronze__payment_outcomes') }} {{ ref('int_payment_outcomes') }}
-- Scores per hour, model and model version (grain: score_hour, model, model_version): how many events each version
-- scored and the sum, min and max of its scores (mean = score_sum / scored_events, additive across hours). The ML
-- dashboard's score-over-time panel.
-- Incremental: every hour of a changed decision (its old and new hour, macro buckets_of_changed_outcomes) is
-- recomputed from all of that hour's scores (deleted first by the pre-hook, so that an hour left without any
-- score goes too).
select
    date_trunc('hour', scored_at) as score_hour,
    model,
    model_version,
    cast(count(*) as bigint) as scored_events,
    sum(score) as score_sum,
    min(score) as min_score,
    max(score) as max_score,
    {{ loaded_at() }} as _loaded_at
from {{ ref('int_model_scores') }}
{% if is_incremental() %}
where date_trunc('hour', scored_at) in ({{ touched_score_hours() }})
{% endif %}
group by 1, 2, 3
