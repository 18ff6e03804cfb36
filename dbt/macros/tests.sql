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
      row left; unique, unique_combination (which contain the model's unique_key), not_null, accepted_values, min_value
      over this run's rows are therefore exactly the checks over the whole table, given that the earlier rows passed
      them in their own run;
    - append models (the deliveries, the money journal) keep their older rows: their uniqueness tests read the whole
      table (a new row could repeat an old one), as does any uniqueness test whose columns do not contain the model's
      unique_key; row-level tests (not_null, accepted_values, min_value, relationships) read this run's rows;
    - a full refresh writes every row in this run, so it checks everything.
    The full check over every row of every model stays available and is scheduled: `npm run dbt -- test` (a `test`
    run never restricts) or `build --vars '{"full_checks": true}'` (orchestration schedule `dbt-full-checks`). What a
    per-build check cannot see and the full check can: an older row whose `relationships` parent a later run removed. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set conditions = [where] if where else [] -%}
    {%- if this_run_rows_only() -%}
        {%- do conditions.append('_loaded_at >= ' ~ loaded_at()) -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' where (' ~ conditions | join(') and (') ~ ')) dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- True when the current generic test may read only the rows this build wrote (see get_where_subquery). -#}
{% macro this_run_rows_only() -%}
    {%- if flags.WHICH != 'build' or var('full_checks', false) or not execute -%}{{ return(false) }}{%- endif -%}
    {%- set attached = model.get('attached_node') if model is mapping else none -%}
    {%- set node = graph.nodes.get(attached) if attached else none -%}
    {%- if node is none or node.config.materialized != 'incremental' -%}{{ return(false) }}{%- endif -%}
    {%- set meta = model.get('test_metadata') or {} -%}
    {%- set kwargs = meta.get('kwargs') or {} -%}
    {#- a test of _loaded_at itself (not_null) must read every row: the filter would drop exactly what it looks for -#}
    {%- if kwargs.get('column_name') == '_loaded_at' -%}{{ return(false) }}{%- endif -%}
    {%- if meta.get('name') in ('unique', 'unique_combination') -%}
        {#- uniqueness over this run's rows is the whole table's only when the run replaced whole keys -#}
        {%- set tested = kwargs.get('columns') or [kwargs.get('column_name')] -%}
        {%- set key = node.config.unique_key -%}
        {%- set keys = key if key is not string else [key] -%}
        {%- if node.config.incremental_strategy != 'delete+insert' or not keys -%}{{ return(false) }}{%- endif -%}
        {%- for k in keys -%}
            {%- if k not in tested -%}{{ return(false) }}{%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(true) }}
{%- endmacro %}
