{#- Cross-warehouse helpers. The loaders store a list of objects as JSON on DuckDB
    (target-duckdb) and as jsonb[] on PostgreSQL (target-postgres), and name columns their own
    way (DuckDB lower-cases, PostgreSQL keeps `OrgID`): models quote the API's own names
    ("OrgID"), which DuckDB matches case-insensitively. -#}

{#- A SQL string literal. -#}
{% macro crm_literal(value) -%}
'{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{#- Text, the one type provider ids share (Pipedrive integers, Onpipeline strings). -#}
{% macro crm_text(expr) -%}
cast({{ expr }} as {{ dbt.type_string() }})
{%- endmacro %}

{#- The key unique across providers and accounts: `<provider>:<account>:<provider's id>`. -#}
{% macro crm_key(provider, id_expr) -%}
case when {{ id_expr }} is not null then
{{ crm_literal(provider ~ ':' ~ crm_setting(provider ~ '_account') ~ ':') }} || {{ crm_text(id_expr) }}
end
{%- endmacro %}

{#- One row per element of a list of objects, in a select list (pair with crm_list_index). -#}
{% macro crm_list_elements(column) -%}
{{ return(adapter.dispatch('crm_list_elements')(column)) }}
{%- endmacro %}
{% macro default__crm_list_elements(column) -%}
unnest({{ column }})
{%- endmacro %}
{% macro duckdb__crm_list_elements(column) -%}
unnest(cast({{ column }} as json[]))
{%- endmacro %}

{#- The 1-based position of the element crm_list_elements yields in the same row. -#}
{% macro crm_list_index(column) -%}
{{ return(adapter.dispatch('crm_list_index')(column)) }}
{%- endmacro %}
{% macro default__crm_list_index(column) -%}
generate_subscripts({{ column }}, 1)
{%- endmacro %}
{% macro duckdb__crm_list_index(column) -%}
generate_subscripts(cast({{ column }} as json[]), 1)
{%- endmacro %}

{#- A text field of a JSON object. -#}
{% macro crm_json_text(expr, key) -%}
({{ expr }} ->> {{ crm_literal(key) }})
{%- endmacro %}

{#- A JSON value, whatever the warehouse calls it. -#}
{% macro crm_json_type() -%}
{{ return(adapter.dispatch('crm_json_type')()) }}
{%- endmacro %}
{% macro default__crm_json_type() -%}jsonb{%- endmacro %}
{% macro duckdb__crm_json_type() -%}json{%- endmacro %}

{#- A JSON object built from (name, JSON value) rows of a group. -#}
{% macro crm_json_object_agg(name, value) -%}
{{ return(adapter.dispatch('crm_json_object_agg')(name, value)) }}
{%- endmacro %}
{% macro default__crm_json_object_agg(name, value) -%}
jsonb_object_agg({{ name }}, {{ value }})
{%- endmacro %}
{% macro duckdb__crm_json_object_agg(name, value) -%}
json_group_object({{ name }}, {{ value }})
{%- endmacro %}

{#- Money and other decimals. -#}
{% macro crm_decimal(expr) -%}
cast({{ expr }} as numeric(18, 2))
{%- endmacro %}

{#- A date from a date column or an ISO date string (loaders differ); empty strings are null. -#}
{% macro crm_date(expr) -%}
cast(nullif({{ crm_text(expr) }}, '') as date)
{%- endmacro %}

{#- A UTC timestamp (the tap emits UTC; both loaders store it without a zone). -#}
{% macro crm_timestamp(expr) -%}
cast({{ expr }} as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- The columns every unified row starts with. -#}
{% macro crm_row_origin(provider) -%}
{{ crm_literal(provider) }} as provider,
    {{ crm_literal(crm_setting(provider ~ '_account')) }} as account
{%- endmacro %}

{#- A project variable (dbt_project.yml), overridden by the environment variable CRM_<NAME>. -#}
{% macro crm_setting(name) -%}
{{ return(env_var('CRM_' ~ name | upper, var(name))) }}
{%- endmacro %}
