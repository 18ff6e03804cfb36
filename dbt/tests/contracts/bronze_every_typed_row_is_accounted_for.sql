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
{#- The offsets loaded before this build, per normalized partition, as constants: a scan filtered on a constant offset
    skips the files and row groups below it (a join on the offsets read the filter columns of every bronze row: 0.63 s
    against 0.36 s on the 10-million-event history). The rows of the partitions and topics nothing was loaded from are
    counted whole, each by a condition the scan can prune with (no `is null`: the Kafka coordinates are required
    columns of the bronze table; `<>` rather than `not in`: 0.2 s against 0.3 s). -#}
{%- set prior = run_query('select kafka_topic, cast(kafka_partition as bigint), max(kafka_offset) from '
    ~ ref('int_payment_events__deliveries') ~ ' where _loaded_at < ' ~ loaded_at()
    ~ ' group by kafka_topic, cast(kafka_partition as bigint) order by 1, 2').rows -%}
{%- set typed = "b.lake_error is null and b.provider in ('stripe', 'square', 'adyen', 'braintree')" -%}
with bronze_counts as (
{%- if prior | length == 0 %}
    select count(*) as n from {{ bronze('payment_events') }} as b where {{ typed }} and b.kafka_offset > -1
{%- else %}
    {%- set topics = prior | map(attribute=0) | unique | list %}
    -- the partitions loaded before: the rows above their highest loaded offset
    select count(*) as n
    from {{ bronze('payment_events') }} as b
    inner join (values
        {%- for r in prior %}
        ({{ sql_literal(r[0]) }}, {{ r[1] }}, {{ r[2] }}){{ ',' if not loop.last }}
        {%- endfor %}
    ) as p (kafka_topic, kafka_partition, max_offset)
        on p.kafka_topic = b.kafka_topic and p.kafka_partition = cast(b.kafka_partition as bigint)
    where {{ typed }} and b.kafka_offset > {{ prior | map(attribute=2) | min }} and b.kafka_offset > p.max_offset
    {%- for topic in topics %}
    {%- set partitions = prior | selectattr(0, 'equalto', topic) | map(attribute=1) | map('int') | list %}
    {%- set gaps = range(partitions | min, partitions | max + 1) | reject('in', partitions) | list %}
    union all
    -- {{ topic }}: its partitions nothing was loaded from, every row
    select count(*)
    from {{ bronze('payment_events') }} as b
    where {{ typed }} and b.kafka_offset > -1 and b.kafka_topic = {{ sql_literal(topic) }}
        and (b.kafka_partition < {{ partitions | min }} or b.kafka_partition > {{ partitions | max }}
            {%- if gaps %} or b.kafka_partition in ({{ gaps | join(', ') }}){% endif %})
    {%- endfor %}
    union all
    -- the topics nothing was loaded from, every row
    select count(*)
    from {{ bronze('payment_events') }} as b
    where {{ typed }} and b.kafka_offset > -1
        {%- for t in topics %} and b.kafka_topic <> {{ sql_literal(t) }}{% endfor %}
{%- endif %}
),

bronze as (
    select sum(n) as typed_rows from bronze_counts
),

new_ids as (
    select distinct event_id from {{ ref('int_payment_events__deliveries') }} where _loaded_at >= {{ loaded_at() }}
),

events_of_new_ids as (
    select count(*) as events, sum(delivery_count) as counted_deliveries
    from {{ ref('int_payment_events') }} where event_id in (select event_id from new_ids)
),

silver as (
    select
        (select count(*) from {{ ref('int_payment_events__deliveries') }} where _loaded_at >= {{ loaded_at() }})
            as deliveries,
        (select count(*) from new_ids) as new_event_ids,
        (select events from events_of_new_ids) as events_of_new_ids,
        (select count(*) from {{ ref('int_payment_events') }}
            where _loaded_at >= {{ loaded_at() }} and event_id not in (select event_id from new_ids))
            as events_without_delivery,
        (select count(*) from {{ ref('int_payment_events__deliveries') }}
            where event_id in (select event_id from new_ids)) as deliveries_of_new_ids,
        (select counted_deliveries from events_of_new_ids) as counted_deliveries
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
