-- Money in revenue_daily equals money in bronze, per currency and to the minor unit: captures, paid refunds and lost
-- disputes summed over every day, against the same amounts computed straight from the bronze snapshot this run read
-- (macro bronze_money_by_currency). Each row returned is a currency and the amounts that differ.
{{ config(severity='error') }}

with bronze as (
    {{ bronze_money_by_currency() }}
),

marts as (
    select
        currency,
        sum(gross_minor) as captured_minor,
        sum(refunds_minor) as refunded_minor,
        sum(dispute_losses_minor) as dispute_lost_minor
    from {{ ref('revenue_daily') }}
    group by currency
)

select
    coalesce(b.currency, m.currency) as currency,
    b.captured_minor as bronze_captured_minor,
    m.captured_minor as marts_captured_minor,
    b.refunded_minor as bronze_refunded_minor,
    m.refunded_minor as marts_refunded_minor,
    b.dispute_lost_minor as bronze_dispute_lost_minor,
    m.dispute_lost_minor as marts_dispute_lost_minor
from bronze as b
full outer join marts as m on m.currency = b.currency
where coalesce(b.captured_minor, 0) <> coalesce(m.captured_minor, 0)
   or coalesce(b.refunded_minor, 0) <> coalesce(m.refunded_minor, 0)
   or coalesce(b.dispute_lost_minor, 0) <> coalesce(m.dispute_lost_minor, 0)
