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
