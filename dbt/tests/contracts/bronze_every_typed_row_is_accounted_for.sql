-- Nothing is dropped silently: every typed bronze row of a known provider is one delivery in silver, every distinct
-- event_id is one event, and the events' delivery counts add up to the deliveries. Rows returned name the check
-- that failed with both counts.
with bronze as (
    select count(*) as typed_rows, count(distinct event_id) as distinct_events
    from {{ bronze('payment_events') }}
    where lake_error is null and provider in ('stripe', 'square', 'adyen', 'braintree')
),

silver as (
    select
        (select count(*) from {{ ref('int_payment_events__deliveries') }}) as deliveries,
        (select count(*) from {{ ref('int_payment_events') }}) as events,
        (select sum(delivery_count) from {{ ref('int_payment_events') }}) as counted_deliveries
)

select 'typed bronze rows vs deliveries' as check_name, bronze.typed_rows as expected, silver.deliveries as actual
from bronze cross join silver where bronze.typed_rows <> silver.deliveries
union all
select 'distinct bronze event ids vs events', bronze.distinct_events, silver.events
from bronze cross join silver where bronze.distinct_events <> silver.events
union all
select 'deliveries vs summed delivery_count', silver.deliveries, silver.counted_deliveries
from silver where silver.deliveries <> silver.counted_deliveries
