{#- The providers to build: CRM_PROVIDERS (comma-separated), default both. -#}
{% macro crm_providers() -%}
{{ return(env_var('CRM_PROVIDERS', 'pipedrive,onpipeline').replace(' ', '').split(',')) }}
{%- endmacro %}

{#- The unified rows of one entity: each enabled provider's staging model (stg_<provider>__...),
    same columns, one after the other. With no provider enabled for it (crm_deal_changes of an
    Onpipeline-only build), no rows, with the columns as text. -#}
{% macro crm_union(models, columns) -%}
{%- set enabled = [] -%}
{%- for model in models -%}
{%- if model.split('__')[0].replace('stg_', '') in crm_providers() -%}
{%- do enabled.append(model) -%}
{%- endif -%}
{%- endfor -%}
{%- for model in enabled %}
select {{ columns | join(', ') }} from {{ ref(model) }}
{%- if not loop.last %}
union all
{%- endif %}
{%- else %}
select
{%- for column in columns %}
    cast(null as {{ dbt.type_string() }}) as {{ column.split(' as ')[-1] }}{{ ',' if not loop.last }}
{%- endfor %}
where 1 = 0
{%- endfor %}
{%- endmacro %}
