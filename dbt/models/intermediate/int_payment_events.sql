{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='event_id', on_schema_change='fail') }}
-- One row per event (grain: event_id), deduplicated over every delivery: the delivery with the latest provider
-- timestamp wins (among equal ones the first received, then the lowest Kafka coordinates), so a provider's correction
-- of an event replaces it and a plain redelivery changes nothing but delivery_count. Payment, refund and dispute keys are
-- `<provider>:<object id>`.
-- Incremental: the new deliveries are merged with the event's current row (its delivery_count covers every earlier
-- delivery exactly once), and the event is replaced.

with new_deliveries as (
    select * from {{ ref('int_payment_events__deliveries') }}
    {% if is_incremental() %}
    where _loaded_at > {{ loaded_watermark() }}
    {% endif %}
),

candidates as (
    select
        event_id, provider, provider_event_id, object_id, event_type, provider_event_type, object_kind,
        merchant_id, customer_id, amount_minor, currency, payment_method_type, card_brand, card_last_four,
        status, failure_code, failure_message, metadata, provider_created_at, received_at, normalized_at,
        kafka_topic, kafka_partition, kafka_offset, kafka_timestamp,
        payment_object_id, refund_object_id, dispute_object_id,
        cast(1 as bigint) as delivery_count,
        received_at as first_received_at
    from new_deliveries
    {% if is_incremental() %}
    union all
    select
        event_id, provider, provider_event_id, object_id, event_type, provider_event_type, object_kind,
        merchant_id, customer_id, amount_minor, currency, payment_method_type, card_brand, card_last_four,
        status, failure_code, failure_message, metadata, provider_created_at, received_at, normalized_at,
        kafka_topic, kafka_partition, kafka_offset, kafka_timestamp,
        payment_object_id, refund_object_id, dispute_object_id,
        delivery_count,
        first_received_at
    from ({{ rows_with_keys(this, 'event_id', 'select event_id from new_deliveries') }}) as current_rows
    {% endif %}
),

ranked as (
    select
        candidates.*,
        row_number() over (
            partition by event_id
            order by provider_created_at desc nulls last, received_at, kafka_topic, kafka_partition, kafka_offset
        ) as delivery_rank,
        cast(sum(delivery_count) over (partition by event_id) as bigint) as total_deliveries,
        min(first_received_at) over (partition by event_id) as earliest_received_at
    from candidates
)

select
    event_id,
    provider,
    provider_event_id,
    object_id,
    event_type,
    provider_event_type,
    object_kind,
    merchant_id,
    customer_id,
    amount_minor,
    currency,
    payment_method_type,
    card_brand,
    card_last_four,
    status,
    failure_code,
    failure_message,
    metadata,
    provider_created_at,
    {{ utc_date('provider_created_at') }} as event_date,
    received_at,
    normalized_at,
    kafka_topic,
    kafka_partition,
    kafka_offset,
    kafka_timestamp,
    payment_object_id,
    refund_object_id,
    dispute_object_id,
    case when payment_object_id is not null then provider || ':' || payment_object_id end as payment_key,
    case when refund_object_id is not null then provider || ':' || refund_object_id end as refund_key,
    case when dispute_object_id is not null then provider || ':' || dispute_object_id end as dispute_key,
    total_deliveries as delivery_count,
    earliest_received_at as first_received_at,
    {{ is_money_in('provider', 'event_type', 'status') }} as is_money_in,
    {{ is_payment_failure('status') }} as is_failure,
    {{ loaded_at() }} as _loaded_at
from ranked
where delivery_rank = 1
