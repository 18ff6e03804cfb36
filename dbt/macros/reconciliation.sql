{#- Money per currency computed straight from the bronze snapshot this run reads, with none of the models in between:
    deliveries deduplicated by event_id (latest provider timestamp wins), then each provider's semantics written out
    once more. The money tests compare the marts with it, to the minor unit. Columns: currency, captured_minor,
    refunded_minor, dispute_lost_minor, payments_captured.
    Optionally restricted to some movements: `scope` maps 'payment', 'refund' and 'dispute' to a subquery of the
    event ids whose captures, refund states and dispute states are counted (all of each object's events, so that the
    latest state is computed as over the whole table), and optionally 'all' to their union (one subquery instead of
    three in the bronze scan); the semantics stay the ones written out here. `received`, if
    given, is a predicate on the bronze row `b` (its received_at days) that holds for every delivery of those events:
    it lets the scan skip the table's other day partitions. -#}
{% macro bronze_money_by_currency(scope=none) -%}
with events as (
    select *
    from (
        select
            b.*,
            row_number() over (
                partition by event_id
                order by provider_created_at desc nulls last, received_at, kafka_topic, kafka_partition, kafka_offset
            ) as delivery_rank
        from {{ bronze('payment_events') }} as b
        where lake_error is null and provider in ('stripe', 'square', 'adyen', 'braintree')
        {%- if scope %}
          and event_id in ({{ scope.get('all') or (scope['payment'] ~ ' union ' ~ scope['refund'] ~ ' union ' ~ scope['dispute']) }})
          {%- if scope.get('received') %} and {{ scope['received'] }}{% endif %}
        {%- endif %}
    ) as d
    where delivery_rank = 1
),

money_in as (
    select
        provider, currency, amount_minor, provider_created_at, received_at, event_id,
        case when provider = 'adyen' then event_id else object_id end as capture_key
    from events
    where ((provider = 'stripe' and event_type = 'payment.succeeded')
       or (provider = 'square' and event_type in ('payment.updated', 'payment.succeeded') and status = 'succeeded')
       or (provider = 'adyen' and event_type = 'payment.captured' and status = 'captured')
       or (provider = 'braintree' and event_type = 'payment.settled'))
    {%- if scope %} and event_id in ({{ scope['payment'] }}){% endif %}
),

captures as (
    -- one amount per payment (its latest money-in event); every Adyen capture counts (partial captures add up)
    select currency, sum(amount_minor) as captured_minor, count(*) as captures
    from (
        select money_in.*,
            row_number() over (partition by provider, capture_key
                order by provider_created_at desc, received_at desc, event_id desc) as recency
        from money_in
    ) as m
    where recency = 1
    group by currency
),

refund_states as (
    select events.*,
        row_number() over (partition by provider, object_id
            order by provider_created_at desc, received_at desc, event_id desc) as recency
    from events
    where event_type like 'refund.%'
    {%- if scope %} and event_id in ({{ scope['refund'] }}){% endif %}
),

refunds as (
    select currency, sum(amount_minor) as refunded_minor
    from refund_states
    where recency = 1
      and ((provider in ('stripe', 'square') and status = 'succeeded')
        or (provider = 'adyen' and event_type = 'refund.created' and status = 'refunded')
        or (provider = 'braintree' and event_type = 'refund.settled'))
    group by currency
),

dispute_events as (
    select events.*,
        case when provider = 'adyen' then coalesce({{ json_text('metadata', 'original_reference') }}, object_id)
             else object_id end as dispute_object
    from events
    where event_type like 'dispute.%'
    {%- if scope %} and event_id in ({{ scope['dispute'] }}){% endif %}
),

dispute_states as (
    select dispute_events.*,
        row_number() over (partition by provider, dispute_object
            order by provider_created_at desc, received_at desc, event_id desc) as recency,
        row_number() over (partition by provider, dispute_object order by provider_created_at, received_at, event_id)
            as seniority
    from dispute_events
),

disputes as (
    select opening.currency, sum(opening.amount_minor) as dispute_lost_minor
    from dispute_states as latest
    join dispute_states as opening
        on opening.provider = latest.provider and opening.dispute_object = latest.dispute_object
        and opening.seniority = 1
    where latest.recency = 1
      and ((latest.provider = 'stripe' and latest.status = 'lost')
        or (latest.provider = 'braintree' and latest.event_type in ('dispute.lost', 'dispute.accepted'))
        or (latest.provider = 'adyen' and latest.event_type in ('dispute.created', 'dispute.second_chargeback')))
    group by opening.currency
),

currencies as (
    select currency from captures union select currency from refunds union select currency from disputes
)

select
    c.currency,
    coalesce(cap.captured_minor, 0) as captured_minor,
    coalesce(cap.captures, 0) as payments_captured,
    coalesce(r.refunded_minor, 0) as refunded_minor,
    coalesce(d.dispute_lost_minor, 0) as dispute_lost_minor
from currencies as c
left join captures as cap on cap.currency = c.currency
left join refunds as r on r.currency = c.currency
left join disputes as d on d.currency = c.currency
{%- endmacro %}
