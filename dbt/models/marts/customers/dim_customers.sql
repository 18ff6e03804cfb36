-- The customer dimension as a real slowly changing dimension, type 2 (grain: one version of one customer): every
-- change of a tracked attribute is a new row with its validity range; one current row per customer of customer_360
-- (a customer gone from it, after a full rebuild from a re-created bronze table, keeps only closed rows). Built on
-- the customers_snapshot snapshot (the original only overwrote one row per customer and called it SCD2).
select
    dbt_scd_id as customer_version_key,
    customer_id,
    customer_tier,
    primary_currency,
    primary_payment_method,
    primary_card_brand,
    churn_risk_level,
    dbt_valid_from as valid_from,
    dbt_valid_to as valid_to,
    dbt_valid_to is null as is_current,
    row_number() over (partition by customer_id order by dbt_valid_from) as version_number
from {{ ref('customers_snapshot') }}
