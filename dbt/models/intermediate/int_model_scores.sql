{{ config(materialized='view', meta={'replaced_with_key': ['event_id']}) }}
-- Every score a model gave an event (grain: event_id, model): the fraud and the churn model's current score with the
-- model version that gave it, from the workflows' current decisions. scored_at: the provider's event time, else the
-- time the decision was stored.
{% for model in ['fraud', 'churn'] %}
select
    event_id,
    provider,
    '{{ model }}' as model,
    coalesce({{ model }}_model_version, 'unknown') as model_version,
    cast({{ model }}_score as double) as score,
    coalesce(provider_created_at, persisted_at) as scored_at,
    -- the decision's: every row of a decision int_payment_outcomes rewrote carries that run's (a build's tests of
    -- this view read those rows, macros/tests.sql)
    _loaded_at
from {{ ref('int_payment_outcomes') }}
where {{ model }}_score is not null
{% if not loop.last %}union all{% endif %}
{% endfor %}
