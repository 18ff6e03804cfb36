{#- Generic tests this project needs beyond dbt's four (no package downloads: dbt deps would reach the hub). -#}

{#- Rows whose value is below min_value. -#}
{% test min_value(model, column_name, min_value) %}
select {{ column_name }} as failing_value, *
from {{ model }}
where {{ column_name }} < {{ min_value }}
{% endtest %}

{#- Rows whose combination of columns is not unique. -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

{#- Several columns of one model checked in one test node (one node per model instead of one per column and check:
    in a one-new-day build most generic tests read a handful of rows, and their cost was dbt's per-node overhead,
    about 45 ms a node on a 2-core machine):
    - not_null: [column, ...]                 the column is null;
    - min_value: {column: minimum, ...}       the column is below its minimum (null passes, as with min_value);
    - accepted_values: {column: [value, ...]} the column is set and not one of its values (null passes, as with
      dbt's accepted_values; strings are quoted, numbers not);
    - unique: [column or [column, ...], ...]  two or more rows share the column's (or the columns') values, as
      unique_combination (nulls count as equal values; an entry's columns are usually also in not_null). Checked
      over the rows the node reads: in a build, a delete+insert model's unique entries must contain its unique_key
      (this_run_rows_only reads the whole table otherwise); an append model's uniqueness stays a test of its own.
    One result row per failing (row, check): `failing_column`, `failing_check` (not_null, min_value, accepted_values,
    unique), `failing_value` (as text), then the row's columns; dbt's "Got N results" counts them. One `select` per
    check, each from `{{ model }}` (so get_where_subquery scopes it like any generic test) with that check's condition
    only, joined by `union all`: a single condition is pushed into the scan, where the files' statistics skip
    everything that cannot fail (an `or` of the checks is not pushed down: DuckDB then read every row of a
    10-million-row view). A unique entry joins the rows to their repeated values (an empty join reads nothing more).
    The names are cast to unbounded varchar: a stored failure on Trino is an Iceberg table (no varchar(n) columns). -#}
{% test column_checks(model, not_null=[], min_value={}, accepted_values={}, unique=[]) %}
{%- set checks = [] -%}
{%- for column in not_null -%}
    {%- do checks.append({'column': column, 'check': 'not_null', 'fails': column ~ ' is null', 'value': 'null'}) -%}
{%- endfor -%}
{%- for column, minimum in min_value.items() -%}
    {%- do checks.append({'column': column, 'check': 'min_value', 'fails': column ~ ' < ' ~ minimum, 'value': column}) -%}
{%- endfor -%}
{%- for column, values in accepted_values.items() -%}
    {%- set literals = [] -%}
    {%- for v in values -%}{%- do literals.append(sql_literal(v)) -%}{%- endfor -%}
    {%- do checks.append({'column': column, 'check': 'accepted_values', 'fails': column ~ ' not in (' ~ literals | join(', ') ~ ')', 'value': column}) -%}
{%- endfor -%}
{%- set unique_sets = column_sets(unique) -%}
{%- if not checks and not unique_sets -%}{{ exceptions.raise_compiler_error('column_checks on ' ~ model ~ ': no not_null, min_value, accepted_values or unique given') }}{%- endif -%}
{%- for c in checks %}
select
    cast('{{ c.column }}' as varchar) as failing_column,
    cast('{{ c.check }}' as varchar) as failing_check,
    cast({{ c.value }} as varchar) as failing_value,
    *
from {{ model }}
where {{ c.fails }}
{% if not loop.last or unique_sets %}union all{% endif %}
{%- endfor %}
{%- for columns in unique_sets %}
select
    cast('{{ columns | join(', ') }}' as varchar) as failing_column,
    cast('unique' as varchar) as failing_check,
    {%- if columns | length == 1 %}
    cast(m.{{ columns[0] }} as varchar) as failing_value,
    {%- else %}
    {%- set values = [] %}{% for c in columns %}{% do values.append('coalesce(cast(m.' ~ c ~ " as varchar), 'null')") %}{% endfor %}
    {{ values | join(" || ', ' || ") }} as failing_value,
    {%- endif %}
    m.*
from (select * from {{ model }}) as m
inner join (
    select {{ columns | join(', ') }} from {{ model }} group by {{ columns | join(', ') }} having count(*) > 1
) as repeated
    on {% for c in columns %}m.{{ c }} is not distinct from repeated.{{ c }}{{ ' and ' if not loop.last }}{% endfor %}
{% if not loop.last %}union all{% endif %}
{%- endfor %}
{% endtest %}

{#- column_checks' `unique` argument as a list of column lists (a single column name is a list of one). -#}
{% macro column_sets(entries) -%}
    {%- set sets = [] -%}
    {%- for e in entries -%}
        {%- do sets.append([e] if e is string else e | list) -%}
    {%- endfor -%}
    {{ return(sets) }}
{%- endmacro %}

{#- A value as a SQL literal: a string quoted, anything else (a number) as it is. -#}
{% macro sql_literal(value) -%}
    {%- if value is string -%}'{{ value | replace("'", "''") }}'{%- else -%}{{ value }}{%- endif -%}
{%- endmacro %}

{#- Rows where the column is set (e.g. an error column that must stay empty). -#}
{% test is_null(model, column_name) %}
select *
from {{ model }}
where {{ column_name }} is not null
{% endtest %}

{#- What a generic test reads of its model (dbt calls this for every generic test; dbt's own version only applies the
    test's `where`). In a `build`, a test on an incremental model checks the rows this run wrote (`_loaded_at` is the
    run's start), not the whole history:
    - delete+insert models replace whole keys (an event, a payment, a day), so a key written by this run has no older
      row left; unique, unique_combination (which contain the model's unique_key), not_null, accepted_values, min_value,
      column_checks over this run's rows are therefore exactly the checks over the whole table, given that the
      earlier rows passed them in their own run;
    - append models (the deliveries, the money journal) keep their older rows: their uniqueness tests read the whole
      table (a new row could repeat an old one), as does any uniqueness test whose columns do not contain the model's
      unique_key, except the deliveries' Kafka coordinates, read from this run's lowest offset on
      (offsets_this_run_could_repeat); row-level tests (not_null, accepted_values, min_value, column_checks,
      relationships) read this run's rows;
    - a full refresh writes every row in this run, so it checks everything.
    The full check over every row of every model stays available and is scheduled: `npm run dbt -- test` (a `test`
    run never restricts) or `build --vars '{"full_checks": true}'` (orchestration schedule `dbt-full-checks`). What a
    per-build check cannot see and the full check can: an older row whose `relationships` parent a later run removed. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set conditions = [where] if where else [] -%}
    {%- set offsets = offsets_this_run_could_repeat(relation) -%}
    {%- if offsets -%}
        {%- do conditions.append(offsets) -%}
    {%- elif this_run_rows_only() -%}
        {%- do conditions.append('_loaded_at >= ' ~ loaded_at()) -%}
    {%- else -%}
        {%- set pending = pending_rows_of_test() -%}
        {%- if pending -%}
            {#- the same rows, staged once for this build (stage_pending_rows) -#}
            {%- do return('(select * from ' ~ pending ~ (' where (' ~ conditions | join(') and (') ~ ')' if conditions else '') ~ ') dbt_subquery') -%}
        {%- endif -%}
        {%- set unloaded = bronze_rows_not_yet_loaded() -%}
        {%- if unloaded -%}{%- do conditions.append(unloaded) -%}{%- endif -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' where (' ~ conditions | join(') and (') ~ ')) dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- The uniqueness test of a Kafka record's coordinates (kafka_topic, kafka_partition, kafka_offset) on an append
    model (int_payment_events__deliveries) in an incremental `build`: a row this run appended can only repeat a row with
    the same offset, so the test reads the rows with an offset at or above the lowest one this run appended (a constant,
    so the scan skips the older row groups; their rows were checked against each other by the builds that appended
    them): exactly the rows a duplicate made by this run is among (4 s -> 0.03 s over the 10 million deliveries).
    Nothing appended: nothing can repeat ('1 = 0'). Returns the SQL condition, or '' for any other test. -#}
{% macro offsets_this_run_could_repeat(relation) -%}
    {%- if flags.WHICH != 'build' or flags.FULL_REFRESH or var('full_checks', false) or not execute -%}{{ return('') }}{%- endif -%}
    {%- if model is not mapping or model.get('resource_type') != 'test' -%}{{ return('') }}{%- endif -%}
    {%- set attached = model.get('attached_node') -%}
    {%- set node = graph.nodes.get(attached) if attached else none -%}
    {%- if node is none or node.config.materialized != 'incremental' or node.config.incremental_strategy != 'append' -%}
        {{ return('') }}
    {%- endif -%}
    {%- set meta = model.get('test_metadata') or {} -%}
    {%- set tested = (meta.get('kwargs') or {}).get('columns') or [] -%}
    {%- if meta.get('name') != 'unique_combination' or (tested | sort | list) != ['kafka_offset', 'kafka_partition', 'kafka_topic'] -%}
        {{ return('') }}
    {%- endif -%}
    {%- set lowest = run_query('select min(kafka_offset) from ' ~ relation ~ ' where _loaded_at >= ' ~ loaded_at()).columns[0].values()[0] -%}
    {{ return('1 = 0' if lowest is none else 'kafka_offset >= ' ~ lowest) }}
{%- endmacro %}

{#- True when the current generic test may read only the rows this build wrote (see get_where_subquery). -#}
{% macro this_run_rows_only() -%}
    {#- a full refresh rewrote every row: its tests read the tables whole, without a filter -#}
    {%- if flags.WHICH != 'build' or flags.FULL_REFRESH or var('full_checks', false) or not execute -%}{{ return(false) }}{%- endif -%}
    {%- set attached = model.get('attached_node') if model is mapping else none -%}
    {%- set node = graph.nodes.get(attached) if attached else none -%}
    {%- if node is none -%}{{ return(false) }}{%- endif -%}
    {#- a view over one delete+insert model whose rows carry that model's _loaded_at (meta replaced_with_key: the
        model's key, e.g. int_model_scores over int_payment_outcomes) is checked like that model -#}
    {%- set view_key = (node.config.meta or {}).get('replaced_with_key') if node.config.materialized == 'view' else none -%}
    {%- if node.config.materialized != 'incremental' and not view_key -%}{{ return(false) }}{%- endif -%}
    {%- set meta = model.get('test_metadata') or {} -%}
    {%- set kwargs = meta.get('kwargs') or {} -%}
    {#- a test of _loaded_at itself (not_null, or column_checks' not_null) must read every row: the filter would drop
        exactly what it looks for -#}
    {%- if kwargs.get('column_name') == '_loaded_at' or '_loaded_at' in (kwargs.get('not_null') or []) -%}{{ return(false) }}{%- endif -%}
    {%- set unique_sets = [kwargs.get('columns') or [kwargs.get('column_name')]] if meta.get('name') in ('unique', 'unique_combination')
        else column_sets(kwargs.get('unique') or []) -%}
    {%- if unique_sets -%}
        {#- uniqueness over this run's rows is the whole table's only when the run replaced whole keys -#}
        {%- set key = view_key or node.config.unique_key -%}
        {%- set keys = key if key is not string else [key] -%}
        {%- if (not view_key and node.config.incremental_strategy != 'delete+insert') or not keys -%}{{ return(false) }}{%- endif -%}
        {%- for tested in unique_sets -%}
            {%- for k in keys -%}
                {%- if k not in tested -%}{{ return(false) }}{%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(true) }}
{%- endmacro %}

{#- The test of a bronze.payment_events source column in an incremental `build` reads only the bronze rows the
    deliveries model has not loaded yet: per normalized partition, the offsets above the highest one loaded (the
    deliveries' own exact boundary, int_payment_events__deliveries), the Kafka timestamp bound only pruning the scan.
    Source tests run before the models that read the source, so these are exactly the rows this build is about to
    load: every older row passed the same tests in the build that loaded it (a failing test skips every model below
    it, so a row failing a test is never loaded and is tested again by the next build). Untyped rows are never loaded
    and so stay in every build's check until a typed row of their partition follows. Returns the SQL condition, or
    '' for a full check (full refresh, `dbt test`, full_checks, or no deliveries loaded yet). -#}
{% macro bronze_rows_not_yet_loaded() -%}
    {%- if not bronze_test_relation_name() -%}{{ return('') }}{%- endif -%}
    {{ return(bronze_unloaded_condition()) }}
{%- endmacro %}

{#- The name under which the rows of the current test's relation are staged (stage_pending_rows) when
    bronze_rows_not_yet_loaded applies to it: 'bronze_payment_events' for a source test of bronze.payment_events, the
    provider staging view's name for one of its tests; '' for any other test and outside an incremental build. -#}
{% macro bronze_test_relation_name() -%}
    {%- if flags.WHICH != 'build' or flags.FULL_REFRESH or var('full_checks', false) or not execute -%}{{ return('') }}{%- endif -%}
    {%- if model is not mapping or model.get('resource_type') != 'test' -%}{{ return('') }}{%- endif -%}
    {%- set sources = model.get('sources') or [] -%}
    {%- set attached = model.get('attached_node') -%}
    {%- if sources | length == 1 and (sources[0] | list) == ['bronze', 'payment_events'] -%}{{ return('bronze_payment_events') }}{%- endif -%}
    {#- the provider staging views are bronze.payment_events' rows, renamed (one Kafka record each) -#}
    {%- set node = graph.nodes.get(attached) if attached else none -%}
    {%- if node and node.name.startswith('stg_') and node.name.endswith('__payment_events') -%}{{ return(node.name) }}{%- endif -%}
    {{ return('') }}
{%- endmacro %}

{#- The condition selecting the bronze.payment_events rows int_payment_events__deliveries has not loaded yet (see
    bronze_rows_not_yet_loaded), or '' when it has loaded nothing yet. -#}
{% macro bronze_unloaded_condition() -%}
    {#- the graph, not ref(): a source test does not depend on the model, and dbt refuses an undeclared ref -#}
    {%- set node = graph.nodes.get('model.' ~ project_name ~ '.int_payment_events__deliveries') -%}
    {%- if node is none -%}{{ return('') }}{%- endif -%}
    {%- set existing = adapter.get_relation(node.database, node.schema, node.alias or node.name) -%}
    {%- if existing is none or existing.type != 'table' -%}{{ return('') }}{%- endif -%}
    {%- set loaded = run_query(
        'select kafka_topic, kafka_partition, max(kafka_offset), cast(max(kafka_timestamp) as varchar) from '
        ~ existing ~ ' group by kafka_topic, kafka_partition') -%}
    {%- if loaded.rows | length == 0 -%}{{ return('') }}{%- endif -%}
    {%- set whens = [] -%}
    {%- for r in loaded.rows -%}
        {%- do whens.append("when '" ~ r[0] ~ ":" ~ r[1] ~ "' then " ~ r[2]) -%}
    {%- endfor -%}
    {%- set min_timestamp = loaded.rows | map(attribute=3) | min -%}
    {{ return('kafka_timestamp >= ' ~ tstz_literal(min_timestamp[:19]) ~ " - interval '"
        ~ var('kafka_timestamp_skew_hours') ~ "' hour and kafka_offset > case kafka_topic || ':' || cast(kafka_partition as varchar) "
        ~ (whens | join(' ')) ~ ' else -1 end') }}
{%- endmacro %}

{#- Staged pending rows (DuckDB, incremental build). The ~40 source tests of bronze.payment_events and tests of the
    provider staging views all read the same rows (bronze_rows_not_yet_loaded), and each read of the Iceberg snapshot
    re-reads its manifests (every data file's statistics: ~0.5 s on the 10-million-event history) and the deliveries'
    offsets. stage_pending_rows reads them once per relation into a table of this invocation: on-run-start for the
    source (it does not change during the run), the staging view's post-hook for the view (after this build
    re-created it, before its tests and before the deliveries model loads anything); the tests read that table
    (pending_rows_of_test), with their own `where`. Same rows, same tests. A test whose relation was not staged in
    this invocation (the view not selected, Trino, a full check) reads the relation as before. -#}
{% macro pending_rows_relation(name) -%}
    {{ return(adapter.quote(generate_schema_name('audit', none)) ~ '.' ~ adapter.quote('pending__' ~ name ~ '__' ~ (invocation_id | replace('-', '')))) }}
{%- endmacro %}

{% macro stage_pending_rows(name, relation) -%}
    {%- if target.type != 'duckdb' or flags.WHICH != 'build' or flags.FULL_REFRESH or var('full_checks', false) or not execute -%}{{ return('') }}{%- endif -%}
    {%- set condition = bronze_unloaded_condition() -%}
    {%- if not condition -%}{{ return('') }}{%- endif -%}
    {% do run_query('create schema if not exists ' ~ adapter.quote(generate_schema_name('audit', none))) %}
    {% do run_query('create or replace table ' ~ pending_rows_relation(name) ~ ' as select * from ' ~ relation ~ ' where ' ~ condition) %}
{%- endmacro %}

{#- The staged rows of the current test's relation when this invocation staged them, else ''. -#}
{% macro pending_rows_of_test() -%}
    {%- if target.type != 'duckdb' -%}{{ return('') }}{%- endif -%}
    {%- set name = bronze_test_relation_name() -%}
    {%- if not name -%}{{ return('') }}{%- endif -%}
    {%- set staged = run_query("select count(*) from information_schema.tables where table_schema = '"
        ~ generate_schema_name('audit', none) ~ "' and table_name = '" ~ 'pending__' ~ name ~ '__' ~ (invocation_id | replace('-', '')) ~ "'") -%}
    {{ return(pending_rows_relation(name) if staged.columns[0].values()[0] > 0 else '') }}
{%- endmacro %}

{#- on-run-start: the source's pending rows, after dropping what earlier (crashed) runs left; on-run-end: this
    invocation's staged tables. -#}
{% macro stage_pending_source_rows() -%}
    {%- if target.type != 'duckdb' or not execute -%}{{ return('') }}{%- endif -%}
    {% do drop_pending_rows(false) %}
    {%- if env_var('DBT_BRONZE_PAYMENT_EVENTS_MISSING', '') -%}{{ return('') }}{%- endif -%}
    {%- set src = graph.sources.get('source.' ~ project_name ~ '.bronze.payment_events') -%}
    {%- if src is none -%}{{ return('') }}{%- endif -%}
    {% do stage_pending_rows('bronze_payment_events', source('bronze', 'payment_events')) %}
{%- endmacro %}

{% macro drop_pending_rows(this_run_only=true) -%}
    {%- if target.type != 'duckdb' or not execute -%}{{ return('') }}{%- endif -%}
    {%- set schema = generate_schema_name('audit', none) -%}
    {%- set suffix = '__' ~ (invocation_id | replace('-', '')) -%}
    {%- set found = run_query("select table_name from information_schema.tables where table_schema = '" ~ schema
        ~ "' and starts_with(table_name, 'pending__')") -%}
    {%- for r in found.rows -%}
        {%- if not this_run_only or r[0].endswith(suffix) -%}
            {% do run_query('drop table if exists ' ~ adapter.quote(schema) ~ '.' ~ adapter.quote(r[0])) %}
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}

{#- True when a singular test may check only what this build wrote (an incremental `build` without full_checks);
    false in a full refresh, `dbt test` and `build --vars '{"full_checks": true}'`, which check everything. -#}
{% macro build_checks_this_run_only() -%}
    {{ return(execute and flags.WHICH == 'build' and not flags.FULL_REFRESH and not var('full_checks', false)) }}
{%- endmacro %}
