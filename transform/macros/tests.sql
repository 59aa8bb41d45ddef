{#- Generic test: no two rows share the values of these columns together (e.g. provider,
    account and the provider's own id). -#}
{% test crm_unique_together(model, columns) %}
select {{ columns | join(', ') }}, count(*) as rows_with_these_values
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
