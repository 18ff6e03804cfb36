{{ config(materialized='view') }}
-- Every score a model gave an event (grain: event_id, model): the fraud and the churn model's current score with the
-- model version that gave it, from the workflows' current decisions. scored_at: the provider's event time, else the
-- time the decision was stored.
select
    event_id,
    provider,
    'fraud' as model,
    coalesce(fraud_model_version, 'unknown') as model_version,
    cast(fraud_score as double) as score,
    coalesce(provider_created_at, persisted_at) as scored_at
from {{ ref('int_payment_outcomes') }}
where fraud_score is not null
union all
select
    event_id,
    provider,
    'churn' as model,
    coalesce(churn_model_version, 'unknown') as model_version,
    cast(churn_score as double) as score,
    coalesce(provider_created_at, persisted_at) as scored_at
from {{ ref('int_payment_outcomes') }}
where churn_score is not null
