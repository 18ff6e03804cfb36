-- Retry and recovery effectiveness (grain: provider, retry_action, failure_code): of the payments that failed, how
-- many were recovered (the same payment later succeeded, or the customer paid the same merchant within the recovery
-- window), how fast, per advised retry action.
select
    provider,
    retry_action,
    coalesce(failure_code, 'unknown') as failure_code,
    count(*) as failed_payments,
    count(*) filter (where recovery <> 'not_recovered') as recovered_payments,
    count(*) filter (where recovery = 'same_payment') as recovered_by_retry,
    count(*) filter (where recovery = 'new_payment') as recovered_by_new_payment,
    {{ safe_ratio("count(*) filter (where recovery <> 'not_recovered')", 'count(*)') }} as recovery_rate,
    avg(case when recovered_at is not null
        then cast(date_diff('second', last_failed_at, recovered_at) as double) / 3600 end) as avg_hours_to_recovery
from {{ ref('int_failed_payments') }}
group by provider, retry_action, coalesce(failure_code, 'unknown')
