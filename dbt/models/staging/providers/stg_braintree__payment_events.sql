-- Braintree's normalized notifications (grain: one delivery). A transaction settles (payment.settled) or is declined
-- at settlement; a credit transaction is a refund (refund.*) whose original transaction Braintree's notification does
-- not name, so it stays unlinked; a dispute names its transaction in metadata.dispute_transaction_id.
with source as (
    {{ provider_events('braintree') }}
)

select
    {{ staged_event_columns() }},
    case {{ object_kind('event_type') }}
        when 'payment' then object_id
        when 'dispute' then {{ json_text('metadata', 'dispute_transaction_id') }}
    end as payment_object_id,
    case when {{ object_kind('event_type') }} = 'refund' then object_id end as refund_object_id,
    case when {{ object_kind('event_type') }} = 'dispute' then object_id end as dispute_object_id
from source
