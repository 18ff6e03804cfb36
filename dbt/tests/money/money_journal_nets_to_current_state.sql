-- The journal's entries of each movement sum to the movement's current state: a capture to fct_payments' captured
-- amount, a refund to its paid amount, a lost dispute to its amount (reversals included). Rows returned are
-- movements whose journal does not net to their state.
-- In an incremental `build` (macro build_checks_this_run_only) the movements checked are the ones this build changed:
-- an entry appended to the journal, or a payment, refund or dispute rewritten. Any other movement has the entries and
-- the state an earlier build checked, so this is the whole-table check; a full refresh, `dbt test` and `full_checks`
-- check every movement.
{%- set scoped = build_checks_this_run_only() -%}
{%- set this_build = '_loaded_at >= ' ~ loaded_at() %}
with
{% if scoped -%}
touched as (
    select movement_key from {{ ref('fct_money_movements') }} where {{ this_build }}
    union
    select 'capture:' || payment_key from {{ ref('fct_payments') }} where {{ this_build }}
    union
    select 'refund:' || refund_key from {{ ref('fct_refunds') }} where {{ this_build }}
    union
    select 'dispute:' || dispute_key from {{ ref('fct_disputes') }} where {{ this_build }}
),

{% endif -%}
journal as (
    select movement_key, sum(amount_minor) as amount_minor, sum(movement_count) as movement_count
    from {{ ref('fct_money_movements') }}
    {% if scoped %}where movement_key in (select movement_key from touched){% endif %}
    group by movement_key
),

state as (
    select 'capture:' || payment_key as movement_key, captured_amount_minor as amount_minor
    from {{ ref('fct_payments') }} where is_captured and captured_amount_minor <> 0
    {% if scoped %}and 'capture:' || payment_key in (select movement_key from touched){% endif %}
    union all
    select 'refund:' || refund_key, -paid_amount_minor from {{ ref('fct_refunds') }}
    where is_paid and paid_amount_minor <> 0
    {% if scoped %}and 'refund:' || refund_key in (select movement_key from touched){% endif %}
    union all
    select 'dispute:' || dispute_key, -lost_amount_minor from {{ ref('fct_disputes') }}
    where outcome = 'lost' and lost_amount_minor <> 0
    {% if scoped %}and 'dispute:' || dispute_key in (select movement_key from touched){% endif %}
)

select
    coalesce(j.movement_key, s.movement_key) as movement_key,
    j.amount_minor as journal_amount_minor,
    s.amount_minor as state_amount_minor,
    j.movement_count as journal_movement_count
from journal as j
full outer join state as s on s.movement_key = j.movement_key
where coalesce(j.amount_minor, 0) <> coalesce(s.amount_minor, 0)
   or (s.movement_key is not null and j.movement_count <> 1)
   or (s.movement_key is null and coalesce(j.movement_count, 0) <> 0)
