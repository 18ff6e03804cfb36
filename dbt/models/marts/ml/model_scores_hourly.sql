-- Scores per hour, model and model version (grain: score_hour, model, model_version): how many events each version
-- scored and the sum, min and max of its scores (mean = score_sum / scored_events, additive across hours). The ML
-- dashboard's score-over-time panel.
select
    {{ utc_hour('scored_at') }} as score_hour,
    model,
    model_version,
    cast(count(*) as bigint) as scored_events,
    sum(score) as score_sum,
    min(score) as min_score,
    max(score) as max_score
from {{ ref('int_model_scores') }}
group by 1, 2, 3
