{{ config(materialized='view') }}
-- Churn inputs relative to the data's as-of time (grain: customer_id): customer_360 plus days since the last
-- payment, success and failure, and activity in the last 30 days against the 30 before. As-of is the latest provider
-- timestamp in the data (not the wall clock), so a rebuild of the same bronze snapshot gives the same numbers. A view:
-- relative values are computed when read, never stored stale.
with as_of as (
    select max(provider_created_at) as as_of from {{ ref('int_payment_events') }}
),

recent as (
    select
        p.customer_id,
        count(*) filter (where p.created_at > {{ utc_minus_days('a.as_of', 30) }}) as payments_last_30d,
        count(*) filter (where p.created_at <= {{ utc_minus_days('a.as_of', 30) }} and p.created_at > {{ utc_minus_days('a.as_of', 60) }})
            as payments_prior_30d,
        count(*) filter (where p.created_at > {{ utc_minus_days('a.as_of', 30) }} and p.outcome = 'failed') as failed_last_30d
    from {{ ref('int_payments') }} as p
    cross join as_of as a
    where p.created_at > {{ utc_minus_days('a.as_of', 60) }} and p.customer_id is not null
    group by p.customer_id
)

select
    c.customer_id,
    a.as_of,
    {{ utc_days_between('c.last_payment_at', 'a.as_of') }} as days_since_last_payment,
    {{ utc_days_between('c.last_success_at', 'a.as_of') }} as days_since_last_success,
    {{ utc_days_between('c.last_failure_at', 'a.as_of') }} as days_since_last_failure,
    {{ utc_days_between('c.first_payment_at', 'a.as_of') }} as tenure_days,
    coalesce(r.payments_last_30d, 0) as payments_last_30d,
    coalesce(r.payments_prior_30d, 0) as payments_prior_30d,
    coalesce(r.failed_last_30d, 0) as failed_last_30d,
    c.current_failure_streak,
    c.longest_failure_streak,
    c.failure_rate,
    c.payments,
    c.payments_succeeded,
    c.lifetime_net_reporting,
    c.customer_tier,
    c.churn_score,
    c.churn_risk_level
from {{ ref('customer_360') }} as c
cross join as_of as a
left join recent as r on r.customer_id = c.customer_id
