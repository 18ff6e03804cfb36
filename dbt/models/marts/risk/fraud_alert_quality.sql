-- How good the fraud alerts are against the simulator's ground truth (grain: model_version; one more row,
-- 'all versions', for every scored payment event): at the alert rule of gold.fraud_alerts (risk level high or a
-- score at or above var('fraud_alert_score')), the scored payment events, the alerts, the fraud events among them
-- (seed fraud_truth: the events the simulator made fraudulent), and
--   precision = alerts that are fraud / alerts          (null when there is no alert)
--   recall    = fraud events alerted / fraud events     (null when no scored event is fraud)
-- Meaningful on simulated traffic whose runs kept their truth files: an event of a run without one counts as
-- not fraud.

-- The scored events and alerts per version are fraud_scores_daily's (the same rule, summed over its days); only the
-- ground truth's events are joined to the decisions here, so the mart costs the size of the seed, not of the history.

with version_counts as (
    select model_version, {{ sum_int('scored_events') }} as scored_events, {{ sum_int('alerts') }} as alerts
    from {{ ref('fraud_scores_daily') }}
    group by model_version
),

truth_scored as (
    select
        coalesce(o.fraud_model_version, 'unknown') as model_version,
        (o.fraud_risk_level = 'high' or o.fraud_score >= {{ var('fraud_alert_score') }}) as is_alert
    from {{ ref('fraud_truth') }} as t
    join {{ ref('int_payment_outcomes') }} as o on o.event_id = t.event_id
    join {{ ref('int_payment_events') }} as e on e.event_id = t.event_id
    where o.fraud_score is not null and e.object_kind = 'payment'
),

truth_counts as (
    select
        model_version,
        sum(case when is_alert then 1 else 0 end) as true_positives,
        count(*) as fraud_events
    from truth_scored
    group by model_version
),

per_version as (
    select
        v.model_version, v.scored_events, v.alerts,
        coalesce(t.fraud_events, 0) as fraud_events, coalesce(t.true_positives, 0) as true_positives
    from version_counts as v
    left join truth_counts as t on t.model_version = v.model_version
),

counts as (
    select model_version, scored_events, alerts, fraud_events, true_positives,
        alerts - true_positives as false_positives, fraud_events - true_positives as false_negatives
    from per_version
    union all
    select 'all versions', sum(scored_events), sum(alerts), sum(fraud_events), sum(true_positives),
        sum(alerts - true_positives), sum(fraud_events - true_positives)
    from per_version
    having count(*) > 0
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
