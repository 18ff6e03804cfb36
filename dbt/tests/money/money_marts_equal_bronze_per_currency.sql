-- Money in the marts equals money in bronze, per currency and to the minor unit. From the bronze snapshot this run
-- read, computed straight (macro bronze_money_by_currency: deduplicated by event_id, each provider's semantics written
-- out again): captures, paid refunds and lost disputes. Against it: revenue_daily summed over every day (captures,
-- refunds, dispute losses) and fct_payments' captured amounts. Each row returned is a currency and the amounts that
-- differ, side by side.
with bronze as (
    {{ bronze_money_by_currency() }}
),

revenue as (
    select
        currency,
        sum(gross_minor) as captured_minor,
        sum(refunds_minor) as refunded_minor,
        sum(dispute_losses_minor) as dispute_lost_minor
    from {{ ref('revenue_daily') }}
    group by currency
),

payments as (
    select currency, sum(captured_amount_minor) as captured_minor
    from {{ ref('fct_payments') }}
    group by currency
),

currencies as (
    select currency from bronze union select currency from revenue union select currency from payments
)

select
    c.currency,
    b.captured_minor as bronze_captured_minor,
    r.captured_minor as revenue_daily_captured_minor,
    p.captured_minor as fct_payments_captured_minor,
    b.refunded_minor as bronze_refunded_minor,
    r.refunded_minor as revenue_daily_refunded_minor,
    b.dispute_lost_minor as bronze_dispute_lost_minor,
    r.dispute_lost_minor as revenue_daily_dispute_lost_minor
from currencies as c
left join bronze as b on b.currency = c.currency
left join revenue as r on r.currency = c.currency
left join payments as p on p.currency = c.currency
where coalesce(b.captured_minor, 0) <> coalesce(r.captured_minor, 0)
   or coalesce(b.captured_minor, 0) <> coalesce(p.captured_minor, 0)
   or coalesce(b.refunded_minor, 0) <> coalesce(r.refunded_minor, 0)
   or coalesce(b.dispute_lost_minor, 0) <> coalesce(r.dispute_lost_minor, 0)
