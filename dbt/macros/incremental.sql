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

{#- The rows of `relation` whose `key_column` is in `keys` (a subquery): `select * from relation where key_column in
    (keys)`. On DuckDB, read in two parts so that the common case does not scan the relation's every column: DuckDB
    reads every projected column of a table before a join filters its rows, so one `where key in (...)` over a
    10-million-row table costs a scan of all its columns (0.95 s for int_payment_events) even when the keys hit a few
    hundred rows. A scan of the key and `_loaded_at` columns first finds the keys with rows older than this model's
    watermark; the keys without (in a one-new-day build: the new events, payments and decisions, nearly all of them)
    take their rows from the rows written since (the last row groups, which the zone maps pick out), and only the keys
    with older rows read the whole relation (an empty key set skips that scan).
    The plan is pinned by the query's shape: every lookup leaves the relation side without another filter (and the
    `_loaded_at` test on the keys sits in a HAVING, which is not pushed into the scan), because DuckDB estimates any
    filtered scan at a fifth of the table and would then build its hash table on the 10-million-row side instead of
    the key set (a RIGHT_SEMI join: ~1-2 s, even when the key set is empty). -#}
{% macro rows_with_keys(relation, key_column, keys) -%}{{ adapter.dispatch('rows_with_keys')(relation, key_column, keys) }}{%- endmacro %}
{% macro default__rows_with_keys(relation, key_column, keys) -%}
    select * from {{ relation }} where {{ key_column }} in ({{ keys }})
{%- endmacro %}
{% macro duckdb__rows_with_keys(relation, key_column, keys) -%}
    with keys_with_older_rows as materialized (
        select {{ key_column }} as lookup_key
        from {{ relation }}
        where {{ key_column }} in ({{ keys }})
        group by {{ key_column }}
        having min(_loaded_at) <= {{ loaded_watermark() }}
    )
    select * from {{ relation }}
    where _loaded_at > {{ loaded_watermark() }} and {{ key_column }} in ({{ keys }})
      and {{ key_column }} not in (select lookup_key from keys_with_older_rows)
    union all
    select * from {{ relation }} where {{ key_column }} in (select lookup_key from keys_with_older_rows)
{%- endmacro %}

