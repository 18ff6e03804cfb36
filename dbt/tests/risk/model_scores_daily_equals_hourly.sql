-- model_scores_daily loses and invents no score of model_scores_hourly: per model and version, the events, the sum of
-- the scores (to 1e-6 of the sum), the minimum and the maximum over all days equal those over all hours. Rows returned
-- are the versions that differ, or that one of the two has and the other has not. (The day grain itself, UTC days,
-- is the unit test's.)
with hourly as (
    select model, model_version, {{ sum_int('scored_events') }} as scored_events, sum(score_sum) as score_sum,
           min(min_score) as min_score, max(max_score) as max_score
    from {{ ref('model_scores_hourly') }}
    group by model, model_version
),

daily as (
    select model, model_version, {{ sum_int('scored_events') }} as scored_events, sum(score_sum) as score_sum,
           min(min_score) as min_score, max(max_score) as max_score
    from {{ ref('model_scores_daily') }}
    group by model, model_version
)

select coalesce(h.model, d.model) as model, coalesce(h.model_version, d.model_version) as model_version,
       h.scored_events as hourly_scored_events, d.scored_events as daily_scored_events
from hourly as h
full outer join daily as d on d.model = h.model and d.model_version = h.model_version
where h.model is null or d.model is null
   or h.scored_events <> d.scored_events
   or abs(h.score_sum - d.score_sum) > 1e-6 * greatest(1, abs(h.score_sum))
   or h.min_score <> d.min_score or h.max_score <> d.max_score
