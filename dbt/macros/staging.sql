{#- The typed columns every provider's staging model passes through from bronze.payment_events, renamed and cast
    only (timestamps stay instants in UTC). -#}
{% macro staged_event_columns() -%}
    kafka_topic,
    cast(kafka_partition as integer) as kafka_partition,
    cast(kafka_offset as bigint) as kafka_offset,
    kafka_timestamp,
    event_id,
    provider,
    provider_event_id,
    object_id,
    event_type,
    provider_event_type,
    merchant_id,
    customer_id,
    cast(amount_minor as bigint) as amount_minor,
    currency,
    payment_method_type,
    card_brand,
    card_last_four,
    status,
    failure_code,
    failure_message,
    metadata,
    provider_created_at,
    received_at,
    normalized_at,
    {{ object_kind('event_type') }} as object_kind
{%- endmacro %}

{#- One provider's rows of bronze.payment_events (typed rows only: untyped ones are reported by a source test). -#}
{% macro provider_events(provider) -%}
    select * from {{ bronze('payment_events') }}
    where provider = '{{ provider }}' and lake_error is null
{%- endmacro %}
