{#- Schemas are used as named (silver, gold, audit), not prefixed with the target's schema as dbt does by default.
    DBT_SCHEMA_PREFIX puts a whole run in private schemas (the tests use one per run). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ env_var('DBT_SCHEMA_PREFIX', '') }}{{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
