-- The payment facts carry exactly bronze's captured money, per currency and to the minor unit, and one captured
-- payment per money-in (Adyen: per capture). Each row returned is a currency that differs.
with bronze as (
    {{ bronze_money_by_currency() }}
),

facts as (
    select currency, sum(captured_amount_minor) as captured_minor
    from {{ ref('fct_payments') }}
    group by currency
)

select
    coalesce(b.currency, f.currency) as currency,
    b.captured_minor as bronze_captured_minor,
    f.captured_minor as fct_payments_captured_minor
from bronze as b
full outer join facts as f on f.currency = b.currency
where coalesce(b.captured_minor, 0) <> coalesce(f.captured_minor, 0)
