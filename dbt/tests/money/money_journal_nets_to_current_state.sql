-- The journal's entries of each movement sum to the movement's current state: a capture to fct_payments' captured
-- amount, a refund to its paid amount, a lost dispute to its amount (reversals included). Rows returned are
-- movements whose journal does not net to their state.
with journal as (
    select movement_key, sum(amount_minor) as amount_minor, sum(movement_count) as movement_count
    from {{ ref('fct_money_movements') }}
    group by movement_key
),

state as (
    select 'capture:' || payment_key as movement_key, captured_amount_minor as amount_minor
    from {{ ref('fct_payments') }} where is_captured and captured_amount_minor <> 0
    union all
    select 'refund:' || refund_key, -paid_amount_minor from {{ ref('fct_refunds') }}
    where is_paid and paid_amount_minor <> 0
    union all
    select 'dispute:' || dispute_key, -lost_amount_minor from {{ ref('fct_disputes') }}
    where outcome = 'lost' and lost_amount_minor <> 0
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
