-- revenue_daily_by_provider is revenue_daily summed over merchants, to the minor unit: rows returned are
-- (day, provider, currency) groups whose sums differ, or that one of the two has and the other has not.
with expected as (
    select revenue_date, provider, currency,
           {{ sum_int('gross_minor') }} as gross_minor, {{ sum_int('refunds_minor') }} as refunds_minor,
           {{ sum_int('dispute_losses_minor') }} as dispute_losses_minor, {{ sum_int('net_minor') }} as net_minor,
           {{ sum_int('captured_payments') }} as captured_payments, {{ sum_int('refunds') }} as refunds,
           {{ sum_int('disputes_lost') }} as disputes_lost
    from {{ ref('revenue_daily') }}
    group by revenue_date, provider, currency
)

select coalesce(e.revenue_date, m.revenue_date) as revenue_date, coalesce(e.provider, m.provider) as provider,
       coalesce(e.currency, m.currency) as currency, e.net_minor as expected_net_minor, m.net_minor
from expected as e
full outer join {{ ref('revenue_daily_by_provider') }} as m
    on m.revenue_date = e.revenue_date and m.provider = e.provider and m.currency = e.currency
where e.revenue_date is null or m.revenue_date is null
   or e.gross_minor <> m.gross_minor or e.refunds_minor <> m.refunds_minor
   or e.dispute_losses_minor <> m.dispute_losses_minor or e.net_minor <> m.net_minor
   or e.captured_payments <> m.captured_payments or e.refunds <> m.refunds or e.disputes_lost <> m.disputes_lost
