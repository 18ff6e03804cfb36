-- Square's normalized events (grain: one delivery). Square completes a payment with payment.updated (status
-- COMPLETED, normalized to succeeded) or payment.completed; a refund names its payment in metadata.payment_id.
-- Square has no dispute webhooks here (a dispute arrives as a payment update).
with source as (
    {{ provider_events('square') }}
)

select
    {{ staged_event_columns() }},
    case {{ object_kind('event_type') }}
        when 'payment' then object_id
        else {{ json_text('metadata', 'payment_id') }}
    end as payment_object_id,
    case when {{ object_kind('event_type') }} = 'refund' then object_id end as refund_object_id,
    cast(null as varchar) as dispute_object_id
from source
