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

{#- Inside a JSON value (not a list column): its object keys, one row each, in a select list. -#}
{% macro crm_json_keys(expr) -%}
{{ return(adapter.dispatch('crm_json_keys')(expr)) }}
{%- endmacro %}
{% macro default__crm_json_keys(expr) -%}
jsonb_object_keys({{ expr }})
{%- endmacro %}
{% macro duckdb__crm_json_keys(expr) -%}
unnest(json_keys({{ expr }}))
{%- endmacro %}

{#- The member of a JSON object named by a column's value. -#}
{% macro crm_json_member(expr, key_expr) -%}
({{ expr }} -> {{ key_expr }})
{%- endmacro %}

{#- object, array, null or scalar. -#}
{% macro crm_json_kind(expr) -%}
{{ return(adapter.dispatch('crm_json_kind')(expr)) }}
{%- endmacro %}
{% macro default__crm_json_kind(expr) -%}
case jsonb_typeof({{ expr }}) when 'object' then 'object' when 'array' then 'array'
    when 'null' then 'null' else 'scalar' end
{%- endmacro %}
{% macro duckdb__crm_json_kind(expr) -%}
case json_type({{ expr }}) when 'OBJECT' then 'object' when 'ARRAY' then 'array'
    when 'NULL' then 'null' else 'scalar' end
{%- endmacro %}

{#- A JSON scalar as text (a string without its quotes). -#}
{% macro crm_json_scalar_text(expr) -%}
{{ return(adapter.dispatch('crm_json_scalar_text')(expr)) }}
{%- endmacro %}
{% macro default__crm_json_scalar_text(expr) -%}
({{ expr }} #>> '{}')
{%- endmacro %}
{% macro duckdb__crm_json_scalar_text(expr) -%}
json_extract_string({{ expr }}, '$')
{%- endmacro %}

{#- The elements of a JSON array value, and their 1-based positions, in a select list. -#}
{% macro crm_json_array_elements(expr) -%}
{{ return(adapter.dispatch('crm_json_array_elements')(expr)) }}
{%- endmacro %}
{% macro default__crm_json_array_elements(expr) -%}
jsonb_array_elements({{ expr }})
{%- endmacro %}
{% macro duckdb__crm_json_array_elements(expr) -%}
unnest(cast({{ expr }} as json[]))
{%- endmacro %}
{% macro crm_json_array_index(expr) -%}
{{ return(adapter.dispatch('crm_json_array_index')(expr)) }}
{%- endmacro %}
{% macro default__crm_json_array_index(expr) -%}
generate_series(1, jsonb_array_length({{ expr }}))
{%- endmacro %}
{% macro duckdb__crm_json_array_index(expr) -%}
generate_subscripts(cast({{ expr }} as json[]), 1)
{%- endmacro %}
