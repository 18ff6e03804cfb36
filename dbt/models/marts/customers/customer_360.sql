{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='customer_id', on_schema_change='fail') }}
-- Everything known about a customer (grain: customer_id): payments and outcomes, lifetime value (net money in the
-- reporting currency, refunds and lost disputes deducted, each converted at its day's rate), failure streaks (the
-- current run of failed payments since the last success, and the longest ever), the latest churn score, and the
-- attributes dim_customers keeps history of. Time-relative churn inputs (days since, last 30 days) are in
-- customer_churn_inputs, which is computed at query time so that it never goes stale.
-- The payment and decision part comes from int_customer_payments; this model adds the money (fct_money_movements).
-- Incremental: customers with a changed payment, refund, dispute or decision are recomputed from all their rows.

with changed as (
    {% if is_incremental() %}
    select customer_id from {{ ref('int_customer_payments') }} where _loaded_at > {{ loaded_watermark() }}
    union
    select customer_id from {{ ref('fct_money_movements') }} where _loaded_at > {{ loaded_watermark() }}
    {% else %}
    select cast(null as varchar) as customer_id where 1 = 0
    {% endif %}
),

customers as (
    select * from {{ ref('int_customer_payments') }}
    {% if is_incremental() %}
    where customer_id in (select customer_id from changed)
    {% endif %}
),

money as (
    select
        m.customer_id,
        {{ sum_int("case when m.movement_type = 'refund' then m.movement_count else 0 end") }} as refunds,
        {{ sum_int("case when m.movement_type = 'dispute_loss' then m.movement_count else 0 end") }} as disputes_lost,
        {{ sum_reporting(reporting_exact('m.amount_minor', 'c.minor_unit_exponent', 'r.rate')) }} as lifetime_net_reporting,
        {{ sum_reporting("case when m.movement_type = 'capture' then "
            ~ reporting_exact('m.amount_minor', 'c.minor_unit_exponent', 'r.rate') ~ " else 0 end") }} as lifetime_gross_reporting,
        bool_or(r.rate is null) as has_unconverted_money
    from (
        -- the customers' movements first, then their rates (not the rates of every movement, then the customers)
        select customer_id, movement_type, movement_count, amount_minor, currency, revenue_date
        from {{ ref('fct_money_movements') }}
        where customer_id in (select customer_id from customers)
    ) as m
    left join {{ ref('currencies') }} as c on c.currency = m.currency
    left join {{ ref('int_exchange_rates') }} as r on {{ rate_in_effect('r', 'm.currency', 'm.revenue_date') }}
    group by m.customer_id
)

select
    s.customer_id,
    s.payments,
    s.payments_succeeded,
    s.payments_failed,
    s.failed_attempts,
    {{ safe_ratio('s.payments_failed', 's.payments') }} as failure_rate,
    s.current_failure_streak,
    s.longest_failure_streak,
    coalesce(m.refunds, 0) as refunds,
    coalesce(m.disputes_lost, 0) as disputes_lost,
    coalesce(m.lifetime_gross_reporting, 0) as lifetime_gross_reporting,
    coalesce(m.lifetime_net_reporting, 0) as lifetime_net_reporting,
    '{{ var('reporting_currency') }}' as reporting_currency,
    coalesce(m.has_unconverted_money, false) as has_unconverted_money,
    {{ customer_tier('coalesce(m.lifetime_net_reporting, 0)') }} as customer_tier,
    s.first_payment_at,
    s.last_payment_at,
    s.last_success_at,
    s.last_failure_at,
    s.merchants,
    s.providers,
    s.primary_currency,
    s.primary_payment_method,
    s.primary_card_brand,
    s.churn_score,
    s.churn_risk_level,
    s.avg_fraud_score,
    -- the latest event that changed any attribute kept in dim_customers' history
    greatest(s.last_payment_at, coalesce(s.last_success_at, s.last_payment_at)) as attributes_as_of,
    {{ loaded_at() }} as _loaded_at
from customers as s
left join money as m on m.customer_id = s.customer_id
