-- The fraud scores the workflows assigned, per day (grain: score_date, provider, model_version, fraud_risk_level):
-- scored payment events, how many of them are alerts (the rule of gold.fraud_alerts: risk level high or a score at or
-- above var('fraud_alert_score')), and the sum of their scores (mean = score_sum / scored_events, additive across
-- rows). The model versions in use and the risk levels, from the marts instead of PostgreSQL.
select
    coalesce(o.event_date, {{ utc_date('o.persisted_at') }}) as score_date,
    o.provider,
    coalesce(o.fraud_model_version, 'unknown') as model_version,
    coalesce(o.fraud_risk_level, 'unknown') as fraud_risk_level,
    cast(count(*) as bigint) as scored_events,
    cast(sum(case when o.fraud_risk_level = 'high' or o.fraud_score >= {{ var('fraud_alert_score') }} then 1 else 0 end)
        as bigint) as alerts,
    sum(cast(o.fraud_score as double)) as score_sum,
    min(o.fraud_score) as min_score,
    max(o.fraud_score) as max_score
from {{ ref('int_payment_outcomes') }} as o
join {{ ref('int_payment_events') }} as e on e.event_id = o.event_id
where o.fraud_score is not null and e.object_kind = 'payment'
group by 1, 2, 3, 4
