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
