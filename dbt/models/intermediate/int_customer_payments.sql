{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='customer_id', on_schema_change='fail') }}
-- A customer's payments and decisions summed up (grain: customer_id): counts by outcome, failure streaks (the current
-- run of failed payments since the last success, and the longest ever), first and last payment, success and failure,
-- merchants and providers, primary currency, payment method and card brand, the latest churn score. customer_360 adds
-- the customer's money to it. Its own model so that this, the heavy part of a customer (a window over all of the
-- customer's payments), runs as soon as int_payments and int_payment_decisions are built, beside the money marts,
-- instead of after fct_money_movements at the end of the build.
-- trailing_failure_run is the number of failed payments at the end of the customer's payments in order (created_at,
-- payment_key): what a following failed payment extends.
-- Incremental: customers with a changed payment or decision. A customer whose changed payments are all new to this
-- model (int_payments.first_loaded_at after its watermark) and all created after every payment it already counts is
-- extended: its counts, times and streaks continue from its previous row with the new payments alone, so the window
-- sorts a day's payments instead of those customers' whole histories (only merchants and providers look at the older
-- payments, for the pairs the new ones bring). Any other customer with a changed payment (a late payment, a changed
-- old one) is recomputed from all of its payments; a customer with only changed decisions keeps its payment part. The
-- decision part (churn, mean fraud score) is recomputed from all of the customer's decisions. (On DuckDB; Trino
-- recomputes every changed customer from all of its payments.)


{%- set payment_columns = 'customer_id, payment_key, outcome, created_at, failed_attempts, captured_at, last_failed_at,'
    ~ ' merchant_id, provider, currency, payment_method_type, card_brand' -%}
{%- set figure_columns = 'customer_id, payments, payments_succeeded, payments_failed, failed_attempts,'
    ~ ' current_failure_streak, longest_failure_streak, trailing_failure_run, first_payment_at, last_payment_at,'
    ~ ' last_success_at, last_failure_at, merchants, providers, primary_currency, primary_payment_method,'
    ~ ' primary_card_brand' -%}
{%- set continued_form = is_incremental() and target.type == 'duckdb' %}

with
{% if is_incremental() %}
changed_payments as {% if continued_form %}materialized {% endif %}(
    select {{ payment_columns }}, first_loaded_at
    from {{ ref('int_payments') }}
    where _loaded_at > {{ loaded_watermark() }} and customer_id is not null
),

changed as (
    select customer_id from changed_payments
    union
    select customer_id from {{ ref('int_payment_decisions') }}
    where _loaded_at > {{ loaded_watermark() }} and customer_id is not null
),
{% endif %}
{% if continued_form %}
previous as materialized (
    select * from {{ this }} where customer_id in (select customer_id from changed)
),

-- customers whose changed payments only add to what this model counted: all new to it, all after its last payment
extended as materialized (
    select c.customer_id
    from changed_payments as c
    left join previous as p on p.customer_id = c.customer_id
    group by c.customer_id
    having bool_and(c.first_loaded_at > {{ loaded_watermark() }} and c.created_at is not null)
       and (count(p.customer_id) = 0 or min(c.created_at) > max(p.last_payment_at))
),

-- every other customer with a changed payment: all of its payments
recomputed_payments as (
    select {{ payment_columns }}
    from {{ ref('int_payments') }}
    where customer_id in (select customer_id from changed_payments where customer_id not in (select customer_id from extended))
),

new_payments as materialized (
    select * from changed_payments where customer_id in (select customer_id from extended)
),

-- the new payments' own figures (as if they were the customer's only payments)
new_part as (
    {{ customer_payment_figures('new_payments') }}
),

{% for column in ['merchant_id', 'provider'] %}
-- the customer and {{ column }} pairs of the new payments that an older payment of the customer already had
known_{{ column }} as (
    select p.customer_id, p.{{ column }}
    from {{ ref('int_payments') }} as p
    join (select distinct customer_id, {{ column }} from new_payments) as n
        on n.customer_id = p.customer_id and n.{{ column }} = p.{{ column }}
    group by p.customer_id, p.{{ column }}
    having min(p.first_loaded_at) <= {{ loaded_watermark() }}
),

{% endfor %}
new_pairs as (
    select n.customer_id,
        count(distinct n.merchant_id) filter (where km.merchant_id is null) as new_merchants,
        count(distinct n.provider) filter (where kp.provider is null) as new_providers
    from new_payments as n
    left join known_merchant_id as km on km.customer_id = n.customer_id and km.merchant_id = n.merchant_id
    left join known_provider as kp on kp.customer_id = n.customer_id and kp.provider = n.provider
    group by n.customer_id
),

-- the customer's last success over its previous row and its new payments
last_success as (
    select n.customer_id,
        case when p.last_success_at is null or n.last_success_at > p.last_success_at then n.last_success_at
             else p.last_success_at end as last_success_at
    from new_part as n
    left join previous as p on p.customer_id = n.customer_id
),

-- the new failed payments created after the customer's last success (older ones count only while no new payment
-- succeeded: a new success is later than every older payment)
failed_after_success as (
    select f.customer_id,
        count(*) filter (where f.outcome = 'failed'
            and (l.last_success_at is null or f.created_at > l.last_success_at)) as failed
    from new_payments as f
    join last_success as l on l.customer_id = f.customer_id
    group by f.customer_id
),

-- the previous row continued with the new payments (which all come after its payments in order)
extended_part as (
    select
        n.customer_id,
        coalesce(p.payments, 0) + n.payments as payments,
        coalesce(p.payments_succeeded, 0) + n.payments_succeeded as payments_succeeded,
        coalesce(p.payments_failed, 0) + n.payments_failed as payments_failed,
        coalesce(p.failed_attempts, 0) + n.failed_attempts as failed_attempts,
        case when n.last_success_at is not null then a.failed
             else coalesce(p.current_failure_streak, 0) + a.failed end as current_failure_streak,
        -- the previous trailing run goes on with the new payments' leading failures
        greatest(coalesce(p.longest_failure_streak, 0), n.longest_failure_streak,
            coalesce(p.trailing_failure_run, 0) + n.leading_failure_run) as longest_failure_streak,
        case when n.payments_failed = n.payments then coalesce(p.trailing_failure_run, 0) + n.payments
             else n.trailing_failure_run end as trailing_failure_run,
        coalesce(p.first_payment_at, n.first_payment_at) as first_payment_at,
        n.last_payment_at,
        l.last_success_at,
        case when p.last_failure_at is null or n.last_failure_at > p.last_failure_at then n.last_failure_at
             else p.last_failure_at end as last_failure_at,
        coalesce(p.merchants, 0) + np.new_merchants as merchants,
        coalesce(p.providers, 0) + np.new_providers as providers,
        n.primary_currency,
        coalesce(n.primary_payment_method, p.primary_payment_method) as primary_payment_method,
        coalesce(n.primary_card_brand, p.primary_card_brand) as primary_card_brand
    from new_part as n
    left join previous as p on p.customer_id = n.customer_id
    join last_success as l on l.customer_id = n.customer_id
    join new_pairs as np on np.customer_id = n.customer_id
    join failed_after_success as a on a.customer_id = n.customer_id
),

payment_parts as (
    select {{ figure_columns }} from extended_part
    union all
    select {{ figure_columns }} from ({{ customer_payment_figures('recomputed_payments') }}) as r
    union all
    -- only their decisions changed
    select {{ figure_columns }} from previous
    where customer_id not in (select customer_id from changed_payments)
),
{% else %}
-- a full refresh: every customer; Trino's incremental build: every changed customer, from all of its payments (the
-- continued form above is one query of ~290 stages there, over Trino's limit of 150)
scoped_payments as (
    select {{ payment_columns }}
    from {{ ref('int_payments') }}
    {% if is_incremental() %}
    where customer_id in (select customer_id from changed)
    {% else %}
    where customer_id is not null
    {% endif %}
),

payment_parts as (
    {{ customer_payment_figures('scoped_payments') }}
),
{% endif %}

churn as (
    select
        customer_id,
        max_by(churn_score, persisted_at) as churn_score,
        max_by(churn_risk_level, persisted_at) as churn_risk_level,
        avg(fraud_score) as avg_fraud_score
    from {{ ref('int_payment_decisions') }}
    {% if is_incremental() %}
    where customer_id in (select customer_id from changed)
    {% endif %}
    group by customer_id
)

select
    s.customer_id,
    s.payments,
    s.payments_succeeded,
    s.payments_failed,
    s.failed_attempts,
    s.current_failure_streak,
    s.longest_failure_streak,
    s.first_payment_at,
    s.last_payment_at,
    s.last_success_at,
    s.last_failure_at,
    s.merchants,
    s.providers,
    s.primary_currency,
    s.primary_payment_method,
    s.primary_card_brand,
    ch.churn_score,
    ch.churn_risk_level,
    ch.avg_fraud_score,
    s.trailing_failure_run,
    {{ loaded_at() }} as _loaded_at
from payment_parts as s
left join churn as ch on ch.customer_id = s.customer_id
