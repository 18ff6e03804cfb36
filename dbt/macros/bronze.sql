{#- Reads a bronze table at the snapshot `npm run dbt` resolved for this run (and recorded in bronze_reads):
    DuckDB: the source renders as its meta.external_location, the table macro pin_bronze_snapshots pointed at
    iceberg_scan() of that snapshot's metadata file (or that scan itself, for a command without hooks);
    Trino: the table FOR VERSION AS OF that snapshot id. A table the lake has not created yet reads as empty rows
    with the contract's columns (DBT_BRONZE_<TABLE>_MISSING), so a new lake builds instead of failing.
    The pinned values are read only when the SQL runs (`execute`): read while dbt parses, each new snapshot would make
    the files that read them changed files for dbt's partial parsing, parsed again on every scheduled build. -#}
{% macro bronze(table_name) -%}
    {%- set rel = source('bronze', table_name) -%}
    {%- if not execute -%}{{ return(rel) }}{%- endif -%}
    {%- set key = 'DBT_BRONZE_' ~ (table_name | upper) -%}
    {%- set missing = env_var(key ~ '_MISSING', '') -%}
    {%- set snapshot_id = env_var(key ~ '_SNAPSHOT', '') -%}
    {%- if missing -%}
        ({{ missing }})
    {%- elif target.type == 'trino' and snapshot_id -%}
        (select * from {{ rel }} for version as of {{ snapshot_id }})
    {%- else -%}
        {{ rel }}
    {%- endif -%}
{%- endmacro %}

{#- on-run-start, DuckDB, first hook: (re)defines the table macros `<prefix>bronze_pins.<table>()` that the bronze
    sources read (their meta.external_location, DBT_BRONZE_<TABLE>_SCAN) as this run's pinned scan of each table
    (DBT_BRONZE_<TABLE>_PIN: iceberg_scan() of the snapshot, or the empty relation of a table the lake has not created).
    The sources' text stays the same from one snapshot to the next, so dbt does not parse them again; a macro is
    expanded where it is used, so filters reach iceberg_scan as before. -#}
{% macro pin_bronze_snapshots() -%}
    {%- if target.type != 'duckdb' or not execute -%}{{ return('') }}{%- endif -%}
    {%- set schema = env_var('DBT_BRONZE_PINS_SCHEMA', '') -%}
    {%- if not schema -%}{{ return('') }}{%- endif -%}
    {% do run_query('create schema if not exists ' ~ adapter.quote(schema)) %}
    {%- for src in graph.sources.values() if src.source_name == 'bronze' -%}
        {%- set pin = env_var('DBT_BRONZE_' ~ (src.name | upper) ~ '_PIN', '') -%}
        {%- if not pin -%}
            {{ exceptions.raise_compiler_error('bronze table ' ~ src.name ~ ': no pinned snapshot (DBT_BRONZE_'
                ~ (src.name | upper) ~ '_PIN): run dbt through `npm run dbt`, which resolves the snapshots') }}
        {%- endif -%}
        {% do run_query('create or replace macro ' ~ adapter.quote(schema) ~ '.' ~ adapter.quote(src.name)
            ~ '() as table select * from ' ~ pin) %}
    {%- endfor -%}
{%- endmacro %}

{#- One row per bronze table read by this run: invocation, target, table, its uuid, snapshot id, metadata file.
    An incremental build (build or run without --full-refresh) first checks that each bronze table is the one the
    warehouse was built from: a table dropped and re-created since (a new Iceberg table uuid) restarts its Kafka
    offsets and snapshot ids, so appending from it would double or lose rows; the run stops and says to rebuild. -#}
{% macro record_bronze_reads() -%}
    {%- if execute and flags.WHICH in ('build', 'run', 'seed', 'snapshot', 'test') -%}
    {%- set reads = fromjson(env_var('DBT_BRONZE_READS', '[]')) -%}
    {%- set schema = generate_schema_name('silver', none) -%}
    {%- set tbl = adapter.quote(schema) ~ '.bronze_reads' -%}
    {%- if target.type == 'trino' -%}{%- set tbl = target.database ~ '.' ~ tbl -%}{%- endif -%}
    {% do run_query('create schema if not exists ' ~ (target.database ~ '.' if target.type == 'trino' else '') ~ adapter.quote(schema)) %}
    {% do run_query('create table if not exists ' ~ tbl ~ ' (invocation_id varchar, run_started_at varchar, target_name varchar, command varchar, partition_day varchar, table_name varchar, snapshot_id varchar, metadata_location varchar, total_records bigint, table_uuid varchar)') %}
    {% do run_query('alter table ' ~ tbl ~ ' add column if not exists table_uuid varchar') %}
    {%- if flags.WHICH in ('build', 'run') and not flags.FULL_REFRESH -%}
    {%- for r in reads if r.table_uuid -%}
        {%- set last = run_query("select table_uuid from " ~ tbl ~ " where table_name = '" ~ r.table
            ~ "' and table_uuid is not null order by run_started_at desc limit 1") -%}
        {%- if last.rows | length > 0 and last.rows[0][0] != r.table_uuid -%}
            {{ exceptions.raise_compiler_error(
                'bronze table ' ~ r.table ~ ' was re-created (table uuid ' ~ r.table_uuid ~ '; this warehouse was '
                ~ 'built from ' ~ last.rows[0][0] ~ '): the incremental models hold rows of the old table. Rebuild '
                ~ 'from the new one with `npm run dbt -- build --full-refresh`.') }}
        {%- endif -%}
    {%- endfor -%}
    {%- endif -%}
    {%- if reads | length > 0 -%}
    insert into {{ tbl }} (invocation_id, run_started_at, target_name, command, partition_day, table_name, snapshot_id,
        metadata_location, total_records, table_uuid) values
    {%- for r in reads %}
      ('{{ invocation_id }}', '{{ run_started_at.isoformat() }}', '{{ target.name }}', '{{ flags.WHICH }}',
       {{ "'" ~ var('partition_day') ~ "'" if var('partition_day') else 'null' }}, '{{ r.table }}',
       {{ "'" ~ r.snapshot_id ~ "'" if r.snapshot_id else 'null' }}, '{{ (r.metadata_location or '') | replace("'", "''") }}',
       {{ r.total_records | int }}, {{ "'" ~ r.table_uuid ~ "'" if r.table_uuid else 'null' }}){{ ',' if not loop.last }}
    {%- endfor %}
    {%- else -%}
    select 1
    {%- endif -%}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}
