{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail') }}
-- Every typed delivery of every provider (grain: one Kafka record of payments.normalized), appended exactly once.
-- Exactness comes from the lake sink's contract: per normalized partition, records are committed in offset order
-- and each exactly once, so "offset above the highest one loaded for that partition" is precisely what is new,
-- whatever clock the events carry (a late event, a replay of an old day, a sink that was down for a week).
-- The Kafka timestamp bound only lets the scan skip old files; it is the loaded maximum per partition minus the
-- allowed clock skew between transformer instances (var kafka_timestamp_skew_hours).
{%- set offset_case = none -%}
{%- set min_timestamp = none -%}
{%- if is_incremental() and execute -%}
    {%- set loaded = run_query(
        'select kafka_topic, kafka_partition, max(kafka_offset), cast(max(kafka_timestamp) as varchar) from '
        ~ this ~ ' group by kafka_topic, kafka_partition') -%}
    {%- if loaded.rows | length > 0 -%}
        {%- set whens = [] -%}
        {%- for r in loaded.rows -%}
            {%- do whens.append("when '" ~ r[0] ~ ":" ~ r[1] ~ "' then " ~ r[2]) -%}
        {%- endfor -%}
        {%- set offset_case = 'case kafka_topic || \':\' || cast(kafka_partition as varchar) ' ~ (whens | join(' ')) ~ ' else -1 end' -%}
        {%- set min_timestamp = loaded.rows | map(attribute=3) | min -%}
    {%- endif -%}
{%- endif %}

with unioned as (
    select * from {{ ref('stg_stripe__payment_events') }}
    union all
    select * from {{ ref('stg_square__payment_events') }}
    union all
    select * from {{ ref('stg_adyen__payment_events') }}
    union all
    select * from {{ ref('stg_braintree__payment_events') }}
)

select
    unioned.*,
    {{ loaded_at() }} as _loaded_at
from unioned
{%- if offset_case %}
where kafka_timestamp >= {{ tstz_literal(min_timestamp[:19]) }} - interval '{{ var('kafka_timestamp_skew_hours') }}' hour
  and kafka_offset > {{ offset_case }}
{%- endif %}
