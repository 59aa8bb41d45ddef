-- Custom field values of deals, persons and organizations by readable name: each record's
-- `Extra` list ([{ID, Value}]) against the custom_fields stream (ID, Name, Table). Empty
-- values are left out (the API lists every field of the table, set or not).
{% set entities = [
    ('deal', 'deals', '"DealID"', 'Deals'),
    ('person', 'persons', '"PersonID"', 'Persons'),
    ('organization', 'organizations', '"OrgID"', 'Organizations'),
] %}

with entries as (
    {% for entity, records_table, id_column, fields_table in entities %}
    select
        {{ crm_literal(entity) }} as entity,
        {{ crm_literal(fields_table) }} as fields_table,
        {{ id_column }} as id,
        {{ crm_list_elements('"Extra"') }} as element
    from {{ source('onpipeline', records_table) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

fields as (
    select "ID" as field_id, "Name" as field_name, "Table" as fields_table
    from {{ source('onpipeline', 'custom_fields') }}
)

select
    {{ crm_row_origin('onpipeline') }},
    {{ crm_key('onpipeline', "entries.entity || ':' || " ~ crm_text('entries.id')) }} || ':' || {{ crm_json_text('entries.element', 'ID') }} as custom_field_value_key,
    entries.entity,
    {{ crm_key('onpipeline', 'entries.id') }} as record_key,
    {{ crm_text('entries.id') }} as record_id,
    {{ crm_json_text('entries.element', 'ID') }} as field_key,
    fields.field_name,
    cast(null as {{ dbt.type_string() }}) as field_type,
    {{ crm_json_text('entries.element', 'Value') }} as value
from entries
inner join fields
    on fields.field_id = {{ crm_json_text('entries.element', 'ID') }}
    and fields.fields_table = entries.fields_table
where coalesce({{ crm_json_text('entries.element', 'Value') }}, '') <> ''
