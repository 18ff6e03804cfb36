-- Money in the marts equals money in bronze, per currency and to the minor unit. From the bronze snapshot this run
-- read, computed straight (macro bronze_money_by_currency: deduplicated by event_id, each provider's semantics written
-- out again): captures, paid refunds and lost disputes. Against it: revenue_daily summed over every day (captures,
-- refunds, dispute losses) and fct_payments' captured amounts. Each row returned is a currency and the amounts that
-- differ, side by side.
-- In an incremental `build` (macro build_checks_this_run_only) the bronze side is restricted to the movements this
-- build touched: the payments, refunds and disputes it rewrote or with an event it (re)wrote, each recomputed from bronze over
-- all of its events (same semantics, macro scope) against fct_payments, fct_refunds and fct_disputes for the same
-- keys; and, over every row (cheap, no bronze), revenue_daily and fct_payments against the money journal per
-- currency. A movement's money depends only on its own events, so with every earlier build's check passed this is
-- the whole-table check; a full refresh, `dbt test` and `full_checks` compare everything with bronze as below.
-- On Trino the whole-table form always runs: Trino plans the scoped form in 349 stages, over its limit of 150
-- (QUERY_HAS_TOO_MANY_STAGES), and the whole-table form is the stricter check.
-- depends_on: {{ ref('int_payment_events') }} {{ ref('int_payment_events__deliveries') }} {{ ref('fct_refunds') }} {{ ref('fct_disputes') }} {{ ref('fct_money_movements') }}
{#- Both forms compare bronze with these, summed per currency over every row (cheap: no bronze). -#}
{%- set marts_by_currency -%}
revenue as (
    select
        currency,
        sum(gross_minor) as captured_minor,
        sum(refunds_minor) as refunded_minor,
        sum(dispute_losses_minor) as dispute_lost_minor
    from {{ ref('revenue_daily') }}
    group by currency
),

payments as (
    select currency, sum(captured_amount_minor) as captured_minor
    from {{ ref('fct_payments') }}
    group by currency
),
{%- endset %}
{% if build_checks_this_run_only() and target.type != 'trino' %}
{%- set events = ref('int_payment_events') -%}
{%- set this_build = '_loaded_at >= ' ~ loaded_at() -%}
{%- set touched = {
    'payment': 'select payment_key from ' ~ events ~ ' where ' ~ this_build ~ " and object_kind = 'payment' and payment_key is not null"
        ~ ' union select payment_key from ' ~ ref('fct_payments') ~ ' where ' ~ this_build,
    'refund': 'select refund_key from ' ~ events ~ ' where ' ~ this_build ~ ' and refund_key is not null'
        ~ ' union select refund_key from ' ~ ref('fct_refunds') ~ ' where ' ~ this_build,
    'dispute': 'select dispute_key from ' ~ events ~ ' where ' ~ this_build ~ ' and dispute_key is not null'
        ~ ' union select dispute_key from ' ~ ref('fct_disputes') ~ ' where ' ~ this_build,
} -%}
{#- The scoped events, looked up once and staged in a table of this invocation (audit pending__money_scope__<invocation>,
    dropped on run end): the received days and the bronze side below read it instead of repeating the three lookups
    (each one a scan of every event) in each of their five uses. -#}
{%- set staged_scope = pending_rows_relation('money_scope') -%}
{%- if execute -%}
    {% do run_query('create schema if not exists ' ~ adapter.quote(generate_schema_name('audit', none))) %}
    {% do run_query('create or replace table ' ~ staged_scope ~ ' as select event_id, bool_or(kind = 1) as in_payment,'
        ~ ' bool_or(kind = 2) as in_refund, bool_or(kind = 3) as in_dispute from ('
        ~ 'select event_id, 1 as kind from ' ~ events ~ ' where payment_key in (' ~ touched['payment'] ~ ')'
        ~ ' union all select event_id, 2 from ' ~ events ~ ' where refund_key in (' ~ touched['refund'] ~ ')'
        ~ ' union all select event_id, 3 from ' ~ events ~ ' where dispute_key in (' ~ touched['dispute'] ~ ')'
        ~ ') as e group by event_id') %}
{%- endif -%}
{%- set scope = {
    'payment': 'select event_id from ' ~ staged_scope ~ ' where in_payment',
    'refund': 'select event_id from ' ~ staged_scope ~ ' where in_refund',
    'dispute': 'select event_id from ' ~ staged_scope ~ ' where in_dispute',
    'all': 'select event_id from ' ~ staged_scope,
} -%}
{#- The bronze scan reads only the days (received_at, the table's partition) holding a delivery of a scoped event:
    every bronze delivery is in int_payment_events__deliveries (bronze_every_typed_row_is_accounted_for), so these
    days hold every delivery of every scoped event, and the check reads them instead of the whole table. -#}
{%- set received = [] -%}
{%- if execute -%}
    {%- set days = run_query('select distinct cast(' ~ utc_date('received_at') ~ ' as varchar) from '
        ~ ref('int_payment_events__deliveries') ~ ' where event_id in (select event_id from ' ~ staged_scope
        ~ ') order by 1').columns[0].values() -%}
    {%- for day in days -%}
        {%- set next_day = (modules.datetime.date.fromisoformat(day) + modules.datetime.timedelta(days=1)).isoformat() -%}
        {%- if received and received[-1]['to'] == day -%}
            {%- do received[-1].update({'to': next_day}) -%}
        {%- else -%}
            {%- do received.append({'from': day, 'to': next_day}) -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif -%}
{%- set day_ranges = [] -%}
{%- for r in received -%}
    {%- do day_ranges.append('(b.received_at >= ' ~ tstz_literal(r['from'] ~ ' 00:00:00') ~ ' and b.received_at < '
        ~ tstz_literal(r['to'] ~ ' 00:00:00') ~ ')') -%}
{%- endfor -%}
{%- if not received -%}
    {%- do scope.update({'received': '1 = 0'}) -%}
{%- else -%}
    {#- the outer bound prunes the table's day partitions; the ranges (up to 100) the rows within it -#}
    {%- do scope.update({'received': 'b.received_at >= ' ~ tstz_literal(received[0]['from'] ~ ' 00:00:00')
        ~ ' and b.received_at < ' ~ tstz_literal(received[-1]['to'] ~ ' 00:00:00')
        ~ ((' and (' ~ (day_ranges | join(' or ')) ~ ')') if day_ranges | length <= 100 else '')}) -%}
{%- endif %}
with bronze as (
    {{ bronze_money_by_currency(scope=scope) }}
),

facts as (
    select currency, sum(captured_minor) as captured_minor, sum(refunded_minor) as refunded_minor,
        sum(dispute_lost_minor) as dispute_lost_minor
    from (
        select currency, captured_amount_minor as captured_minor, 0 as refunded_minor, 0 as dispute_lost_minor
        from {{ ref('fct_payments') }} where payment_key in ({{ touched['payment'] }})
        union all
        select currency, 0, paid_amount_minor, 0
        from {{ ref('fct_refunds') }} where refund_key in ({{ touched['refund'] }})
        union all
        select currency, 0, 0, lost_amount_minor
        from {{ ref('fct_disputes') }} where dispute_key in ({{ touched['dispute'] }})
    ) as f
    group by currency
),

journal as (
    select
        currency,
        sum(case when movement_type = 'capture' then amount_minor else 0 end) as captured_minor,
        -sum(case when movement_type = 'refund' then amount_minor else 0 end) as refunded_minor,
        -sum(case when movement_type = 'dispute_loss' then amount_minor else 0 end) as dispute_lost_minor
    from {{ ref('fct_money_movements') }}
    group by currency
),

{{ marts_by_currency }}

currencies as (
    select currency from bronze union select currency from facts
    union select currency from journal union select currency from revenue union select currency from payments
)

select
    c.currency,
    b.captured_minor as bronze_captured_minor,
    f.captured_minor as facts_captured_minor,
    b.refunded_minor as bronze_refunded_minor,
    f.refunded_minor as facts_refunded_minor,
    b.dispute_lost_minor as bronze_dispute_lost_minor,
    f.dispute_lost_minor as facts_dispute_lost_minor,
    j.captured_minor as journal_captured_minor,
    r.captured_minor as revenue_daily_captured_minor,
    p.captured_minor as fct_payments_captured_minor,
    j.refunded_minor as journal_refunded_minor,
    r.refunded_minor as revenue_daily_refunded_minor,
    j.dispute_lost_minor as journal_dispute_lost_minor,
    r.dispute_lost_minor as revenue_daily_dispute_lost_minor
from currencies as c
left join bronze as b on b.currency = c.currency
left join facts as f on f.currency = c.currency
left join journal as j on j.currency = c.currency
left join revenue as r on r.currency = c.currency
left join payments as p on p.currency = c.currency
where coalesce(b.captured_minor, 0) <> coalesce(f.captured_minor, 0)
   or coalesce(b.refunded_minor, 0) <> coalesce(f.refunded_minor, 0)
   or coalesce(b.dispute_lost_minor, 0) <> coalesce(f.dispute_lost_minor, 0)
   or coalesce(j.captured_minor, 0) <> coalesce(r.captured_minor, 0)
   or coalesce(j.captured_minor, 0) <> coalesce(p.captured_minor, 0)
   or coalesce(j.refunded_minor, 0) <> coalesce(r.refunded_minor, 0)
   or coalesce(j.dispute_lost_minor, 0) <> coalesce(r.dispute_lost_minor, 0)
{% else %}
with bronze as (
    {{ bronze_money_by_currency() }}
),

{{ marts_by_currency }}

currencies as (
    select currency from bronze union select currency from revenue union select currency from payments
)

select
    c.currency,
    b.captured_minor as bronze_captured_minor,
    r.captured_minor as revenue_daily_captured_minor,
    p.captured_minor as fct_payments_captured_minor,
    b.refunded_minor as bronze_refunded_minor,
    r.refunded_minor as revenue_daily_refunded_minor,
    b.dispute_lost_minor as bronze_dispute_lost_minor,
    r.dispute_lost_minor as revenue_daily_dispute_lost_minor
from currencies as c
left join bronze as b on b.currency = c.currency
left join revenue as r on r.currency = c.currency
left join payments as p on p.currency = c.currency
where coalesce(b.captured_minor, 0) <> coalesce(r.captured_minor, 0)
   or coalesce(b.captured_minor, 0) <> coalesce(p.captured_minor, 0)
   or coalesce(b.refunded_minor, 0) <> coalesce(r.refunded_minor, 0)
   or coalesce(b.dispute_lost_minor, 0) <> coalesce(r.dispute_lost_minor, 0)
{% endif %}
