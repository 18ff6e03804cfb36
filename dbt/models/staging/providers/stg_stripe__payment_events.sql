-- Stripe's normalized events (grain: one delivery, i.e. one Kafka record of payments.normalized).
-- Payments are PaymentIntents (object_id pi_…); a refund or a dispute names its payment in metadata
-- (linked_payment_intent, else linked_charge when only the charge is known).
with source as (
    {{ provider_events('stripe') }}
)

select
    {{ staged_event_columns() }},
    case {{ object_kind('event_type') }}
        when 'payment' then object_id
        else coalesce({{ json_text('metadata', 'linked_payment_intent') }}, {{ json_text('metadata', 'linked_charge') }})
    end as payment_object_id,
    case when {{ object_kind('event_type') }} = 'refund' then object_id end as refund_object_id,
    case when {{ object_kind('event_type') }} = 'dispute' then object_id end as dispute_object_id
from source
