{#- The few places where DuckDB and Trino SQL differ, as dispatch macros (both adapters also share the default). -#}

{#- A top-level text field of a JSON object stored as text (bronze `metadata`). -#}
{% macro json_text(column, key) -%}{{ adapter.dispatch('json_text')(column, key) }}{%- endmacro %}
{% macro duckdb__json_text(column, key) -%}json_extract_string({{ column }}, '$.{{ key }}'){%- endmacro %}
{% macro default__json_text(column, key) -%}json_extract_scalar({{ column }}, '$.{{ key }}'){%- endmacro %}

{#- The timestamp-with-time-zone type of bronze's timestamptz columns. -#}
{% macro type_tstz() -%}{{ adapter.dispatch('type_tstz')() }}{%- endmacro %}
{% macro duckdb__type_tstz() -%}timestamptz{%- endmacro %}
{% macro default__type_tstz() -%}timestamp(6) with time zone{%- endmacro %}

{#- A UTC instant as a typed literal, from an ISO-8601 string or a datetime. -#}
{% macro tstz_literal(value) -%}
    {%- set text = value.isoformat() if value is not string else value -%}
    cast('{{ text | replace('T', ' ') | replace('+00:00', '') | replace('Z', '') }} UTC' as {{ type_tstz() }})
{%- endmacro %}

{#- When this invocation started: every row an incremental model writes in one run carries it as `_loaded_at`. -#}
{% macro loaded_at() -%}{{ tstz_literal(run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f')) }}{%- endmacro %}

{#- The UTC calendar day of an instant. On DuckDB by arithmetic on the epoch: `cast(timezone('UTC', ts) as date)` goes
    through ICU's calendar for every row (2.6 s over 10 million rows on a 2-core machine, against 0.18 s); same days,
    whatever the session's TimeZone (lakehouse's utc_day macro is the same expression). -#}
{% macro utc_date(column) -%}{{ adapter.dispatch('utc_date')(column) }}{%- endmacro %}
{% macro duckdb__utc_date(column) -%}cast(make_timestamp(epoch_us({{ column }})) as date){%- endmacro %}
{% macro default__utc_date(column) -%}cast(at_timezone({{ column }}, 'UTC') as date){%- endmacro %}

{#- The instant's UTC hour (an instant, truncated). On DuckDB by arithmetic on the epoch (floored, so also before 1970):
    `date_trunc('hour', ts)` goes through ICU's calendar for every row (10.9 s against 1.9 s for model_scores_hourly's
    19.6 million scores on a 2-core machine); the same hours, whatever the session's TimeZone. -#}
{% macro utc_hour(column) -%}{{ adapter.dispatch('utc_hour')(column) }}{%- endmacro %}
{% macro duckdb__utc_hour(column) -%}
    make_timestamptz(epoch_us({{ column }}) - ((epoch_us({{ column }}) % 3600000000) + 3600000000) % 3600000000)
{%- endmacro %}
{% macro default__utc_hour(column) -%}date_trunc('hour', {{ column }}){%- endmacro %}

{#- Division that is null instead of failing when the denominator is zero. -#}
{% macro safe_ratio(numerator, denominator) -%}
    case when coalesce({{ denominator }}, 0) = 0 then null
         else cast({{ numerator }} as double) / cast({{ denominator }} as double) end
{%- endmacro %}

{#- Consecutive days from `start_date` to `end_date` (SQL date expressions), as a one-column relation `date_day`. -#}
{% macro date_spine_between(start_date, end_date) -%}{{ adapter.dispatch('date_spine_between')(start_date, end_date) }}{%- endmacro %}
{% macro duckdb__date_spine_between(start_date, end_date) -%}
    (select cast(d as date) as date_day from range(cast({{ start_date }} as timestamp), cast({{ end_date }} as timestamp) + interval 1 day, interval 1 day) t(d))
{%- endmacro %}
{% macro default__date_spine_between(start_date, end_date) -%}
    (select date_day from unnest(sequence({{ start_date }}, {{ end_date }}, interval '1' day)) as t(date_day))
{%- endmacro %}

{#- Quantiles of a column as one array (1-based: [1] is the first of `qs`): exact on DuckDB, Trino's approximate
    percentiles (within ~1% rank error) on Trino. One aggregate for all of them: DuckDB collects and sorts the values
    once instead of once per quantile (0.3 s of 1.1 s over 20 million scores). -#}
{% macro score_quantiles(column, qs) -%}{{ adapter.dispatch('score_quantiles')(column, qs) }}{%- endmacro %}
{% macro duckdb__score_quantiles(column, qs) -%}quantile_cont({{ column }}, [{{ qs | join(', ') }}]){%- endmacro %}
{% macro default__score_quantiles(column, qs) -%}approx_percentile({{ column }}, array[{{ qs | join(', ') }}]){%- endmacro %}

{#- sum() of integers (minor units, counts) as BIGINT. DuckDB's sum of an integer column is HUGEINT (128-bit), and a
    stored HUGEINT column is slow to scan: on the 10-million-event bench history, sum(amount_minor) over
    fct_money_movements' 2.6 M rows took 11 s as HUGEINT against 0.1 s as BIGINT (DuckDB 1.5.5). Every integer total
    here fits 64 bits (Trino's sum of a bigint is a bigint already). -#}
{% macro sum_int(expression) -%}
    cast(sum({{ expression }}) as bigint)
{%- endmacro %}

{#- Whole UTC calendar days from `start` to `end` (timestamps with time zone), date_diff('day', start, end) in UTC. On
    DuckDB by epoch arithmetic: its date_diff on TIMESTAMPTZ goes through ICU's calendar per row (3.7 s for the
    59,200 customers x 4 columns of customer_churn_inputs on the 10-million-event history, against ~0.05 s). -#}
{% macro utc_days_between(start, end) -%}{{ adapter.dispatch('utc_days_between')(start, end) }}{%- endmacro %}
{% macro duckdb__utc_days_between(start, end) -%}
    (cast(floor(epoch_us({{ end }}) / 86400000000.0) as bigint) - cast(floor(epoch_us({{ start }}) / 86400000000.0) as bigint))
{%- endmacro %}
{% macro default__utc_days_between(start, end) -%}date_diff('day', {{ start }}, {{ end }}){%- endmacro %}

{#- `column` minus `days` whole days (a timestamp with time zone; UTC has no daylight saving, so exactly days x 24 h).
    On DuckDB by epoch arithmetic (ICU's interval arithmetic per row otherwise). -#}
{% macro utc_minus_days(column, days) -%}{{ adapter.dispatch('utc_minus_days')(column, days) }}{%- endmacro %}
{% macro duckdb__utc_minus_days(column, days) -%}
    make_timestamptz(epoch_us({{ column }}) - {{ days }} * 86400000000)
{%- endmacro %}
{% macro default__utc_minus_days(column, days) -%}{{ column }} - interval '{{ days }}' day{%- endmacro %}
