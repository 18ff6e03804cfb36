-- How good the fraud alerts are against the simulator's ground truth (grain: model_version; one more row,
-- 'all versions', for every scored payment event): at the alert rule of gold.fraud_alerts (risk level high or a
-- score at or above var('fraud_alert_score')), the scored payment events, the alerts, the fraud events among them
-- (seed fraud_truth: the events the simulator made fraudulent), and
--   precision = alerts that are fraud / alerts          (null when there is no alert)
--   recall    = fraud events alerted / fraud events     (null when no scored event is fraud)
-- Meaningful on simulated traffic whose runs kept their truth files: an event of a run without one counts as
-- not fraud.

with scored as (
    select
        o.event_id,
        coalesce(o.fraud_model_version, 'unknown') as model_version,
        (o.fraud_risk_level = 'high' or o.fraud_score >= {{ var('fraud_alert_score') }}) as is_alert
    from {{ ref('int_payment_outcomes') }} as o
    join {{ ref('int_payment_events') }} as e on e.event_id = o.event_id
    where o.fraud_score is not null and e.object_kind = 'payment'
),

labelled as (
    select s.model_version, s.is_alert, t.event_id is not null as is_fraud
    from scored as s
    left join {{ ref('fraud_truth') }} as t on t.event_id = s.event_id
),

per_version as (
    select model_version, is_alert, is_fraud from labelled
    union all
    select 'all versions' as model_version, is_alert, is_fraud from labelled
),

counts as (
    select
        model_version,
        count(*) as scored_events,
        sum(case when is_alert then 1 else 0 end) as alerts,
        sum(case when is_fraud then 1 else 0 end) as fraud_events,
        sum(case when is_alert and is_fraud then 1 else 0 end) as true_positives,
        sum(case when is_alert and not is_fraud then 1 else 0 end) as false_positives,
        sum(case when is_fraud and not is_alert then 1 else 0 end) as false_negatives
    from per_version
    group by model_version
),

-- The 'all versions' row exists even before anything was scored: the dashboard shows zeros, not an empty chart.
all_versions as (
    select 'all versions' as model_version
)

select
    a.model_version,
    cast({{ var('fraud_alert_score') }} as double) as alert_score_threshold,
    cast(coalesce(c.scored_events, 0) as bigint) as scored_events,
    cast(coalesce(c.alerts, 0) as bigint) as alerts,
    cast(coalesce(c.fraud_events, 0) as bigint) as fraud_events,
    cast(coalesce(c.true_positives, 0) as bigint) as true_positives,
    cast(coalesce(c.false_positives, 0) as bigint) as false_positives,
    cast(coalesce(c.false_negatives, 0) as bigint) as false_negatives,
    cast(c.true_positives as double) / nullif(c.alerts, 0) as alert_precision,
    cast(c.true_positives as double) / nullif(c.fraud_events, 0) as alert_recall,
    (select count(*) from {{ ref('fraud_truth') }}) as truth_records
from (select model_version from counts union select model_version from all_versions) as a
left join counts as c on c.model_version = a.model_version
