{#- The incremental contract every incremental model here follows:
    - each row carries `_loaded_at`, the start of the run that (re)wrote it;
    - a model finds what changed upstream since its own last run as upstream rows with `_loaded_at` after
      `loaded_watermark()` (its own latest `_loaded_at`; a failed run leaves it, so the next run picks everything up);
    - it then recomputes whole keys (an event, a payment, a refund, a day) from all of their upstream rows, never from
      the new rows alone, and replaces them (delete+insert on the key). Re-processing is therefore idempotent. -#}
{% macro loaded_watermark() -%}
    (select coalesce(max(_loaded_at), {{ tstz_literal('1970-01-01 00:00:00') }}) from {{ this }})
{%- endmacro %}

{#- A single-column set of keys as a SQL IN-list subquery that is empty on a full refresh. -#}
{% macro changed_since_watermark(relation, key_column) -%}
    select distinct {{ key_column }} from {{ relation }} where _loaded_at > {{ loaded_watermark() }}
{%- endmacro %}

{#- The UTC days of every payment event of the payments that changed since this model's last run: a payment's
    created / captured / failure day is always one of its events' days, before and after the change, so recomputing
    these days is exact. -#}
{% macro days_of_changed_payments() -%}
    select distinct e.event_date as day
    from {{ ref('int_payment_events') }} as e
    where e.object_kind = 'payment'
      and e.payment_key in (
        select payment_key from {{ ref('int_payment_events') }}
        where _loaded_at > {{ loaded_watermark() }} and object_kind = 'payment' and payment_key is not null)
{%- endmacro %}

{#- The buckets (days, hours: `bucket`, an expression over provider_created_at and persisted_at) of every outcome
    that changed since this model's last run, old and new: the bucket of each of the changed events' decision versions
    in bronze (the version this model counted before is one of them, and the current one too), so a decision whose
    bucket moved (no provider timestamp: the bucket is its persisted_at's) is removed from the old one. `extra`: more
    changed event ids (a subquery), e.g. events whose row the model joins to was rewritten. -#}
{% macro buckets_of_changed_outcomes(bucket, extra=none) -%}
    select distinct {{ bucket }} as bucket
    from {{ ref('stg_bronze__payment_outcomes') }}
    where event_id in (
        select event_id from {{ ref('int_payment_outcomes') }} where _loaded_at > {{ loaded_watermark() }}
        {%- if extra %}
        union
        {{ extra }}
        {%- endif %}
    )
{%- endmacro %}

{#- Pre-hook of a bucketed incremental model: deletes the buckets about to be recomputed, so a bucket left with no
    row at all (its only decision moved to another bucket) does not keep its old row (delete+insert only replaces
    the keys the new rows carry). A no-op outside incremental runs. -#}
{% macro delete_buckets(column, buckets) -%}
    {%- if is_incremental() -%}
    delete from {{ this }} where {{ column }} in ({{ buckets }})
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- The days fraud_scores_daily recomputes: of changed decisions, and of decisions whose event row was rewritten. -#}
{% macro touched_score_days() -%}
    {{ buckets_of_changed_outcomes(
        'coalesce(' ~ utc_date('provider_created_at') ~ ', ' ~ utc_date('persisted_at') ~ ')',
        extra='select event_id from ' ~ ref('int_payment_events') ~ ' where _loaded_at > ' ~ loaded_watermark()) }}
{%- endmacro %}

{#- The hours model_scores_hourly recomputes: of changed decisions. -#}
{% macro touched_score_hours() -%}
    {{ buckets_of_changed_outcomes("date_trunc('hour', coalesce(provider_created_at, persisted_at))") }}
{%- endmacro %}
