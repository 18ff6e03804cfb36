-- Nothing is dropped silently: every typed bronze row of a known provider is one delivery in silver, every distinct
-- event_id is one event, and the events' delivery counts add up to the deliveries. Rows returned name the check
-- that failed with both counts.
-- In an incremental `build` (macro build_checks_this_run_only) the same checks cover what this build loaded, which
-- is exact given that every earlier build passed them: the typed bronze rows above the offsets loaded before this
-- build (per normalized partition, no Kafka-timestamp pruning, so a row the deliveries' pruned scan skipped is
-- caught) against this build's deliveries; every event id this build delivered is one event whose delivery_count
-- covers all of its deliveries; and no event was rewritten without a delivery. A full refresh, `dbt test` and
-- `full_checks` count everything.
{% if build_checks_this_run_only() %}
with prior as (
    select kafka_topic, cast(kafka_partition as bigint) as kafka_partition, max(kafka_offset) as max_offset
    from {{ ref('int_payment_events__deliveries') }}
    where _loaded_at < {{ loaded_at() }}
    group by kafka_topic, cast(kafka_partition as bigint)
),

bronze as (
    select count(*) as typed_rows
    from {{ bronze('payment_events') }} as b
    left join prior as p
        on p.kafka_topic = b.kafka_topic and p.kafka_partition = cast(b.kafka_partition as bigint)
    where b.lake_error is null and b.provider in ('stripe', 'square', 'adyen', 'braintree')
      and b.kafka_offset > coalesce(p.max_offset, -1)
),

new_ids as (
    select distinct event_id from {{ ref('int_payment_events__deliveries') }} where _loaded_at >= {{ loaded_at() }}
),

silver as (
    select
        (select count(*) from {{ ref('int_payment_events__deliveries') }} where _loaded_at >= {{ loaded_at() }})
            as deliveries,
        (select count(*) from new_ids) as new_event_ids,
        (select count(*) from {{ ref('int_payment_events') }} where event_id in (select event_id from new_ids))
            as events_of_new_ids,
        (select count(*) from {{ ref('int_payment_events') }}
            where _loaded_at >= {{ loaded_at() }} and event_id not in (select event_id from new_ids))
            as events_without_delivery,
        (select count(*) from {{ ref('int_payment_events__deliveries') }}
            where event_id in (select event_id from new_ids)) as deliveries_of_new_ids,
        (select sum(delivery_count) from {{ ref('int_payment_events') }}
            where event_id in (select event_id from new_ids)) as counted_deliveries
)

select 'typed bronze rows above the loaded offsets vs this build''s deliveries' as check_name,
    bronze.typed_rows as expected, silver.deliveries as actual
from bronze cross join silver where bronze.typed_rows <> silver.deliveries
union all
select 'distinct event ids delivered by this build vs their events', silver.new_event_ids, silver.events_of_new_ids
from silver where silver.new_event_ids <> silver.events_of_new_ids
union all
select 'events rewritten by this build without a delivery in it', 0, silver.events_without_delivery
from silver where silver.events_without_delivery <> 0
union all
select 'deliveries vs summed delivery_count', silver.deliveries_of_new_ids, silver.counted_deliveries
from silver where silver.deliveries_of_new_ids <> coalesce(silver.counted_deliveries, 0)
{% else %}
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
{% endif %}
