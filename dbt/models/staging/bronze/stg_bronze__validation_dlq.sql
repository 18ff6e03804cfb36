-- Records the transformer rejected (grain: one Kafka record of payments.validation.dlq). The payload itself stays in
-- bronze; only what analytics needs is passed on.
select
    kafka_topic,
    cast(kafka_partition as integer) as kafka_partition,
    cast(kafka_offset as bigint) as kafka_offset,
    event_id,
    provider,
    provider_event_id,
    failure_reason,
    validation_errors,
    source_topic,
    cast(source_partition as integer) as source_partition,
    cast(source_offset as bigint) as source_offset,
    received_at,
    quarantined_at
from {{ bronze('validation_dlq') }}
