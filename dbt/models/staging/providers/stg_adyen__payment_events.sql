-- Adyen's normalized notification items (grain: one delivery). Every modification (CAPTURE, REFUND, CHARGEBACK,
-- CHARGEBACK_REVERSED) has its own pspReference (object_id) and names the payment's in metadata.original_reference.
-- A chargeback and its reversal are two modifications of one dispute: the dispute is keyed by the payment.
with source as (
    {{ provider_events('adyen') }}
)

select
    {{ staged_event_columns() }},
    coalesce({{ json_text('metadata', 'original_reference') }}, object_id) as payment_object_id,
    case when {{ object_kind('event_type') }} = 'refund' then object_id end as refund_object_id,
    case when {{ object_kind('event_type') }} = 'dispute'
        then coalesce({{ json_text('metadata', 'original_reference') }}, object_id) end as dispute_object_id
from source
