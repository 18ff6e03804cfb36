{{ config(materialized='table') }}
-- The dated exchange-rate seed as validity ranges (grain: currency, valid_from): a rate holds from its date until the
-- next one of the same currency. The reporting currency itself is always 1.
with rates as (
    select currency, cast(rate_date as date) as valid_from, cast(rate_to_reporting as decimal(38, 10)) as rate
    from {{ ref('exchange_rates') }}
    where reporting_currency = '{{ var('reporting_currency') }}'
    union all
    select '{{ var('reporting_currency') }}', cast('1970-01-01' as date), cast(1 as decimal(38, 10))
)

select
    currency,
    valid_from,
    lead(valid_from) over (partition by currency order by valid_from) as valid_to,
    rate
from rates
