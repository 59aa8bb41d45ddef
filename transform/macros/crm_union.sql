{#- The unified rows of one entity: each provider's staging model, same columns, one after the other. -#}
{% macro crm_union(models, columns) -%}
{%- for model in models %}
select {{ columns | join(', ') }} from {{ ref(model) }}
{%- if not loop.last %}
union all
{%- endif %}
{%- endfor %}
{%- endmacro %}
