{#- Every payment figure int_customer_payments keeps for the customers whose payments `payments` (a relation or CTE
    name: customer_id, payment_key, outcome, created_at, failed_attempts, captured_at, last_failed_at, merchant_id,
    provider, currency, payment_method_type, card_brand) holds, computed from those payments alone, plus
    leading_failure_run (the failed payments before the first one that did not fail), which continuing a customer with
    new payments needs. -#}
{% macro customer_payment_figures(payments) %}
    select
        s.customer_id,
        s.payments,
        s.payments_succeeded,
        s.payments_failed,
        s.failed_attempts,
        coalesce(cs.current_failure_streak, 0) as current_failure_streak,
        coalesce(st.longest_failure_streak, 0) as longest_failure_streak,
        coalesce(st.trailing_failure_run, 0) as trailing_failure_run,
        coalesce(st.leading_failure_run, 0) as leading_failure_run,
        s.first_payment_at,
        s.last_payment_at,
        s.last_success_at,
        s.last_failure_at,
        s.merchants,
        s.providers,
        s.primary_currency,
        s.primary_payment_method,
        s.primary_card_brand
    from (
        select
            customer_id,
            count(*) as payments,
            count(*) filter (where outcome = 'succeeded') as payments_succeeded,
            count(*) filter (where outcome = 'failed') as payments_failed,
            {{ sum_int("failed_attempts") }} as failed_attempts,
            min(created_at) as first_payment_at,
            max(created_at) as last_payment_at,
            max(captured_at) as last_success_at,
            max(last_failed_at) as last_failure_at,
            count(distinct merchant_id) as merchants,
            count(distinct provider) as providers,
            max_by(currency, created_at) as primary_currency,
            max_by(payment_method_type, created_at) filter (where payment_method_type is not null) as primary_payment_method,
            max_by(card_brand, created_at) filter (where card_brand is not null) as primary_card_brand
        from {{ payments }}
        group by customer_id
    ) as s
    left join (
        -- runs of failed payments: a payment's run is named by the number of payments up to it that did not fail
        -- (one window, one sort), so the highest name is the trailing run and 0 the leading one
        select customer_id, max(run) as longest_failure_streak, max_by(run, streak_group) as trailing_failure_run,
            max(run) filter (where streak_group = 0) as leading_failure_run
        from (
            select customer_id, streak_group, count(*) filter (where outcome = 'failed') as run
            from (
                select
                    customer_id,
                    outcome,
                    cast(sum(case when outcome = 'failed' then 0 else 1 end) over (
                        partition by customer_id order by created_at, payment_key
                        rows between unbounded preceding and current row) as bigint) as streak_group
                -- only the columns the window needs: DuckDB's window sorts every column of its input
                from (select customer_id, outcome, created_at, payment_key from {{ payments }}) as p
            ) as q
            group by customer_id, streak_group
        ) as r
        group by customer_id
    ) as st on st.customer_id = s.customer_id
    left join (
        select p.customer_id, count(*) as current_failure_streak
        from {{ payments }} as p
        join (select customer_id, max(captured_at) as last_success_at from {{ payments }} group by customer_id) as l
            on l.customer_id = p.customer_id
        where p.outcome = 'failed' and (l.last_success_at is null or p.created_at > l.last_success_at)
        group by p.customer_id
    ) as cs on cs.customer_id = s.customer_id
{% endmacro %}
