{{ config(
    materialized='incremental', incremental_strategy='delete+insert', unique_key='event_id', on_schema_change='fail',
    pre_hook="{% if is_incremental() %}delete from {{ this }} where event_id in (select event_id from
        {{ ref('int_payment_decisions') }} where _loaded_at > {{ loaded_watermark() }}){% endif %}"
) }}
-- Payment events the workflows scored as fraud risks (grain: event_id): a risk level of high or a score at or above
-- the alert threshold of the model version that scored it (seed fraud_model_thresholds, written by ml's training from
-- the version's `alert_threshold` tag; var('fraud_alert_score') for a version not in it), with the payment, the
-- amount, the model version and its threshold, and whether the payment was later disputed and how that ended (the
-- label that tells whether the alert was right).
-- Incremental: new or changed decisions, and alerts whose payment's disputes changed. delete+insert replaces only the
-- keys it inserts, so the pre-hook first deletes every event whose decision changed: a decision re-scored below its
-- threshold takes its alert back.

with changed_events as (
    {% if is_incremental() %}
    select event_id from {{ ref('int_payment_decisions') }} where _loaded_at > {{ loaded_watermark() }}
    union
    select event_id from {{ this }}
    where payment_key in (select payment_key from {{ ref('fct_disputes') }} where _loaded_at > {{ loaded_watermark() }})
    {% else %}
    select cast(null as varchar) as event_id where 1 = 0
    {% endif %}
),

thresholds as (
    select fraud_model_version, cast(alert_threshold as double) as alert_threshold
    from {{ ref('fraud_model_thresholds') }}
),

scored as (
    select o.*, coalesce(t.alert_threshold, cast({{ var('fraud_alert_score') }} as double)) as alert_threshold
    {% if is_incremental() %}
    -- the changed decisions first (macro rows_with_keys), the threshold and the alert filter on those only
    from ({{ rows_with_keys(ref('int_payment_decisions'), 'event_id', 'select event_id from changed_events') }}) as o
    {% else %}
    from {{ ref('int_payment_decisions') }} as o
    {% endif %}
    left join thresholds as t on t.fraud_model_version = o.fraud_model_version
),

alerts as (
    select o.*
    from scored as o
    where o.object_kind = 'payment' and (o.fraud_risk_level = 'high' or o.fraud_score >= o.alert_threshold)
),

disputes as (
    select
        payment_key,
        count(*) as disputes,
        case when bool_or(outcome = 'lost') then 'lost' when bool_or(outcome = 'open') then 'open' else 'won' end
            as dispute_outcome,
        min(opened_at) as first_disputed_at
    from {{ ref('fct_disputes') }}
    where payment_key is not null
    group by payment_key
)

select
    a.event_id,
    a.payment_key,
    a.provider,
    a.event_type,
    a.merchant_id,
    a.customer_id,
    a.amount_minor,
    a.currency,
    a.fraud_score,
    a.fraud_risk_level,
    a.fraud_model_version,
    a.alert_threshold,
    a.event_created_at as alerted_at,
    a.event_date as alert_date,
    d.payment_key is not null as was_disputed,
    d.dispute_outcome,
    d.first_disputed_at,
    {{ loaded_at() }} as _loaded_at
from alerts as a
left join disputes as d on d.payment_key = a.payment_key
