-- gold.fraud_alert_quality is consistent: per row, true + false positives are the alerts, true positives + false
-- negatives the fraud events, precision and recall are those ratios (null exactly when their denominator is 0) and
-- within [0, 1]; the 'all versions' row is the sum of the per-version rows; and every fraud event the marts can
-- see (a scored payment event in the seed fraud_truth) is counted. Failing rows name the check.
with q as (select * from {{ ref('fraud_alert_quality') }}),

versions as (
    select
        sum(scored_events) as scored_events, sum(alerts) as alerts, sum(fraud_events) as fraud_events,
        sum(true_positives) as true_positives
    from q where model_version <> 'all versions'
),

truth_scored as (
    select count(*) as n
    from {{ ref('fraud_truth') }} as t
    join {{ ref('int_payment_outcomes') }} as o on o.event_id = t.event_id
    join {{ ref('int_payment_events') }} as e on e.event_id = t.event_id
    where o.fraud_score is not null and e.object_kind = 'payment'
)

select model_version, 'positives do not add up to the alerts' as failure from q
where true_positives + false_positives <> alerts
union all
select model_version, 'true positives and false negatives do not add up to the fraud events' from q
where true_positives + false_negatives <> fraud_events
union all
select model_version, 'precision is not true positives / alerts' from q
where (alerts = 0 and alert_precision is not null)
   or (alerts > 0 and (alert_precision is null or abs(alert_precision - cast(true_positives as double) / alerts) > 1e-9))
   or alert_precision > 1
union all
select model_version, 'recall is not true positives / fraud events' from q
where (fraud_events = 0 and alert_recall is not null)
   or (fraud_events > 0 and (alert_recall is null or abs(alert_recall - cast(true_positives as double) / fraud_events) > 1e-9))
   or alert_recall > 1
union all
select q.model_version, 'the all-versions row is not the sum of the versions' from q cross join versions as v
where q.model_version = 'all versions'
  and (q.scored_events <> coalesce(v.scored_events, 0) or q.alerts <> coalesce(v.alerts, 0)
       or q.fraud_events <> coalesce(v.fraud_events, 0) or q.true_positives <> coalesce(v.true_positives, 0))
union all
select q.model_version, 'a scored fraud event of the ground truth is not counted' from q cross join truth_scored as t
where q.model_version = 'all versions' and q.fraud_events <> t.n
union all
select 'all versions', 'the all-versions row is missing'
where not exists (select 1 from q where model_version = 'all versions')
