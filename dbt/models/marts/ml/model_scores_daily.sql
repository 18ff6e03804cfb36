-- Scores per UTC day, model and model version (grain: score_day, model, model_version): model_scores_hourly summed
-- over the day's hours (mean = score_sum / scored_events, additive across days). The ML dashboard's score-over-time
-- panel reads it: on the 10-million-event history a year of two model versions is ~730 rows, where the hourly mart's
-- ~19,000 were beyond the chart's 10,000-row limit (cut without a word) and cost Superset 1.3-1.6 s of CPU to pivot.
select
    {{ utc_date('score_hour') }} as score_day,
    model,
    model_version,
    {{ sum_int('scored_events') }} as scored_events,
    sum(score_sum) as score_sum,
    min(min_score) as min_score,
    max(max_score) as max_score
from {{ ref('model_scores_hourly') }}
group by {{ utc_date('score_hour') }}, model, model_version
