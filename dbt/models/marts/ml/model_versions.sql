-- Each model version's scores over everything it scored (grain: model, model_version): champion against challenger.
-- Events scored, mean, median and 95th percentile of the scores (exact on DuckDB, approximate on Trino), first and last
-- scored event.
with versions as (
    select
        model,
        model_version,
        cast(count(*) as bigint) as scored_events,
        avg(score) as mean_score,
        {{ score_quantiles('score', [0.5, 0.95]) }} as quantiles,
        min(scored_at) as first_scored_at,
        max(scored_at) as last_scored_at
    from {{ ref('int_model_scores') }}
    group by 1, 2
)

select
    model,
    model_version,
    scored_events,
    mean_score,
    quantiles[1] as p50_score,
    quantiles[2] as p95_score,
    first_scored_at,
    last_scored_at
from versions
