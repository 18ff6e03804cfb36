{#- Each provider's money semantics (README "Money"): which event moves money into the merchant's balance, which
    refund states returned it, which dispute outcomes took it back. Used by the models and, written out again
    independently, by tests/money/. -#}

{#- The event is the money-in moment of its payment: Stripe succeeded, Square completed, Adyen captured (not
    authorised), Braintree settled. -#}
{% macro is_money_in(provider, event_type, status) -%}
    (({{ provider }} = 'stripe' and {{ event_type }} = 'payment.succeeded')
     or ({{ provider }} = 'square' and {{ event_type }} in ('payment.updated', 'payment.succeeded') and {{ status }} = 'succeeded')
     or ({{ provider }} = 'adyen' and {{ event_type }} = 'payment.captured' and {{ status }} = 'captured')
     or ({{ provider }} = 'braintree' and {{ event_type }} = 'payment.settled'))
{%- endmacro %}

{#- The payment failed at this event (declined, refused, settlement declined). -#}
{% macro is_payment_failure(status) -%}
    ({{ status }} in ('failed', 'settlement_declined', 'declined', 'processor_declined', 'gateway_rejected'))
{%- endmacro %}

{#- A refund's latest state means the money went back to the customer. -#}
{% macro is_refund_paid(provider, event_type, status) -%}
    (({{ provider }} in ('stripe', 'square') and {{ status }} = 'succeeded')
     or ({{ provider }} = 'adyen' and {{ event_type }} = 'refund.created' and {{ status }} = 'refunded')
     or ({{ provider }} = 'braintree' and {{ event_type }} = 'refund.settled'))
{%- endmacro %}

{#- A dispute's latest event means the merchant lost the money: Stripe closed as lost, Braintree lost or accepted,
    Adyen a chargeback (debited at once) that has not been reversed. -#}
{% macro is_dispute_lost(provider, event_type, status) -%}
    (({{ provider }} = 'stripe' and {{ status }} = 'lost')
     or ({{ provider }} = 'braintree' and {{ event_type }} in ('dispute.lost', 'dispute.accepted'))
     or ({{ provider }} = 'adyen' and {{ event_type }} in ('dispute.created', 'dispute.second_chargeback')))
{%- endmacro %}

{#- won | lost | open -#}
{% macro dispute_outcome(provider, event_type, status) -%}
    case when {{ is_dispute_lost(provider, event_type, status) }} then 'lost'
         when ({{ provider }} = 'stripe' and {{ status }} = 'won')
           or ({{ provider }} = 'braintree' and {{ event_type }} = 'dispute.won')
           or ({{ provider }} = 'adyen' and {{ event_type }} = 'dispute.reversed') then 'won'
         else 'open' end
{%- endmacro %}

{#- payment | refund | dispute | other, from the normalized event type. -#}
{% macro object_kind(event_type) -%}
    case when {{ event_type }} like 'payment.%' then 'payment'
         when {{ event_type }} like 'refund.%' then 'refund'
         when {{ event_type }} like 'dispute.%' then 'dispute'
         else 'other' end
{%- endmacro %}

{#- An amount in minor units of `currency` in the reporting currency's major unit, at `rate` (value of one major
    unit of `currency`), given the currency's minor-unit exponent. -#}
{% macro to_reporting(amount_minor, exponent, rate) -%}
    cast({{ reporting_exact(amount_minor, exponent, rate) }} as decimal(38, 4))
{%- endmacro %}

{#- The same amount unrounded (scale 16), for sums: round once, after summing (`sum_reporting`), so that a total does not
    depend on how the money was split into rows (a refund restated as two journal entries, -A then +(A - R), must sum
    to what one entry of -R gives). Exact decimal arithmetic on both targets: minor units times the rate, times
    10^-exponent. A division here would differ between them: DuckDB divides decimals as DOUBLE, Trino as DECIMAL. -#}
{% macro reporting_exact(amount_minor, exponent, rate) -%}
    (cast({{ amount_minor }} as decimal(38, 0)) * cast({{ rate }} as decimal(38, 10)) * cast(power(10, -{{ exponent }}) as decimal(38, 6)))
{%- endmacro %}

{#- sum() of reporting_exact amounts rounded once (half away from zero) to 4 places. -#}
{% macro sum_reporting(exact_expression) -%}
    cast(sum({{ exact_expression }}) as decimal(38, 4))
{%- endmacro %}

{#- The join condition of the exchange rate in effect on `day` (`rates`: an alias of int_exchange_rates, whose latest
    range per currency is open: valid_to null). One range predicate without OR, so that both engines plan a range
    join: the form `(valid_to is null or day < valid_to)` made DuckDB compare every movement with every rate
    (customer_360's money step: 83 s for 1.8 M movements of one day's customers, against 3 s in this form). -#}
{% macro rate_in_effect(rates, currency, day) -%}
    {{ rates }}.currency = {{ currency }}
    and {{ day }} >= {{ rates }}.valid_from
    and {{ day }} < coalesce({{ rates }}.valid_to, cast('9999-12-31' as date))
{%- endmacro %}
