-- Risk per merchant (grain: merchant_id, provider): volumes, dispute rate (disputes opened / payments succeeded), loss rate,
-- the fraud-score distribution of its payment events (ten buckets of 0.1, with the median and 90th percentile read
-- from the buckets as their upper bounds), the share of high-risk events, and a risk tier. Sums int_merchant_days.
with totals as (
    select
        merchant_id,
        provider,
        {{ sum_int("payments_started") }} as payments_started,
        {{ sum_int("payments_succeeded") }} as payments_succeeded,
        {{ sum_int("payments_failed") }} as payments_failed,
        {{ sum_int("disputes_opened") }} as disputes_opened,
        {{ sum_int("disputes_lost") }} as disputes_lost,
        sum(dispute_losses_reporting) as dispute_losses_reporting,
        {{ sum_int("scored_events") }} as scored_events,
        {{ sum_int("high_risk_events") }} as high_risk_events,
        {% for b in range(10) -%}
        {{ sum_int("fraud_score_bucket_" ~ b) }} as fraud_score_bucket_{{ b }},
        {% endfor %}
        min(activity_date) as first_activity_date,
        max(activity_date) as last_activity_date
    from {{ ref('int_merchant_days') }}
    group by merchant_id, provider
),

cumulative as (
    select
        totals.*,
        {% for b in range(10) -%}
        ({% for k in range(b + 1) %}fraud_score_bucket_{{ k }}{{ ' + ' if not loop.last }}{% endfor %}) as upto_{{ b }}{{ ',' if not loop.last }}
        {% endfor %}
    from totals
),

rated as (
    select
        cumulative.*,
        {{ safe_ratio('disputes_opened', 'payments_succeeded') }} as dispute_rate,
        {{ safe_ratio('disputes_lost', 'payments_succeeded') }} as dispute_loss_rate,
        {{ safe_ratio('payments_failed', 'payments_started') }} as failure_rate,
        {{ safe_ratio('high_risk_events', 'scored_events') }} as high_risk_share,
        case {% for b in range(10) %}when upto_{{ b }} * 2 >= scored_events and scored_events > 0 then {{ (b + 1) / 10 }} {% endfor %} end
            as fraud_score_p50_upper,
        case {% for b in range(10) %}when upto_{{ b }} * 10 >= scored_events * 9 and scored_events > 0 then {{ (b + 1) / 10 }} {% endfor %} end
            as fraud_score_p90_upper
    from cumulative
)

select
    merchant_id, provider, payments_started, payments_succeeded, payments_failed, disputes_opened, disputes_lost,
    dispute_losses_reporting, '{{ var('reporting_currency') }}' as reporting_currency, dispute_rate,
    dispute_loss_rate, failure_rate, scored_events, high_risk_events, high_risk_share,
    {% for b in range(10) -%}
    fraud_score_bucket_{{ b }},
    {% endfor %}
    fraud_score_p50_upper, fraud_score_p90_upper,
    case
        when dispute_rate >= 0.01 or high_risk_share >= 0.1 then 'high'
        when dispute_rate >= 0.005 or high_risk_share >= 0.03 then 'elevated'
        else 'normal'
    end as risk_tier,
    first_activity_date, last_activity_date
from rated
