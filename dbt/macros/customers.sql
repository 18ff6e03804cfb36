{#- Customer tier from lifetime net revenue in the reporting currency (major units). -#}
{% macro customer_tier(net_reporting) -%}
    case when {{ net_reporting }} >= 1000 then 'platinum'
         when {{ net_reporting }} >= 500 then 'gold'
         when {{ net_reporting }} >= 100 then 'silver'
         else 'bronze' end
{%- endmacro %}
