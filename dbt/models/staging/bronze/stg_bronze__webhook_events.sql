-- What the edge accepted or rejected (grain: one raw Kafka record). Headers and bodies stay in bronze.
select
    kafka_topic,
    cast(kafka_partition as integer) as kafka_partition,
    cast(kafka_offset as bigint) as kafka_offset,
    received_at,
    provider,
    request_id,
    is_dlq
from {{ bronze('webhook_events') }}
