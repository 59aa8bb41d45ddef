-- Custom field values of deals, persons and organizations by readable name: the records'
-- `custom_fields` hash (40-character field codes) against the *_fields streams. Option fields
-- give their labels (a set field its labels in order, comma-separated); an object value
-- (money, address, date range) its main `value`; user, person and organization fields the id.
{% set entities = [
    ('deal', 'deals', 'deal_fields'),
    ('person', 'persons', 'person_fields'),
    ('organization', 'organizations', 'organization_fields'),
] %}

with fields as (
    {% for entity, _, fields_table in entities %}
    select {{ crm_literal(entity) }} as entity, field_code, field_name, field_type, options
    from {{ source('pipedrive', fields_table) }}
    where is_custom_field
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

options as (
    select
        entity,
        field_code,
        {{ crm_json_scalar_text(crm_json_member('option', "'id'")) }} as option_id,
        {{ crm_json_text('option', 'label') }} as label
    from (
        select entity, field_code, {{ crm_list_elements('options') }} as option
        from fields
        where options is not null
    ) as listed
),

entries as (
    select entity, id, field_code, {{ crm_json_member('custom_fields', 'field_code') }} as value
    from (
        {% for entity, records_table, _ in entities %}
        select
            {{ crm_literal(entity) }} as entity,
            id,
            custom_fields,
            {{ crm_json_keys('custom_fields') }} as field_code
        from {{ source('pipedrive', records_table) }}
        where custom_fields is not null
        {% if not loop.last %}union all{% endif %}
        {% endfor %}
    ) as keyed
),

typed as (
    select entries.*, {{ crm_json_kind('value') }} as kind
    from entries
),

set_labels as (
    select
        elements.entity,
        elements.id,
        elements.field_code,
        {{ dbt.listagg('coalesce(options.label, elements.option_id)', "', '", 'order by elements.position') }} as labels
    from (
        select
            entity,
            id,
            field_code,
            {{ crm_json_scalar_text(crm_json_array_elements('value')) }} as option_id,
            {{ crm_json_array_index('value') }} as position
        from typed
        where kind = 'array'
    ) as elements
    left join options
        on options.entity = elements.entity
        and options.field_code = elements.field_code
        and options.option_id = elements.option_id
    group by elements.entity, elements.id, elements.field_code
),

resolved as (
    select
        typed.entity,
        typed.id,
        typed.field_code,
        fields.field_name,
        fields.field_type,
        case typed.kind
            when 'array' then set_labels.labels
            when 'object' then {{ crm_json_scalar_text(crm_json_member('typed.value', "'value'")) }}
            else coalesce(options.label, {{ crm_json_scalar_text('typed.value') }})
        end as value
    from typed
    inner join fields on fields.entity = typed.entity and fields.field_code = typed.field_code
    left join options
        on fields.field_type = 'enum'
        and options.entity = typed.entity
        and options.field_code = typed.field_code
        and options.option_id = {{ crm_json_scalar_text('typed.value') }}
    left join set_labels
        on set_labels.entity = typed.entity
        and set_labels.id = typed.id
        and set_labels.field_code = typed.field_code
    where typed.kind <> 'null'
)

select
    {{ crm_row_origin('pipedrive') }},
    {{ crm_key('pipedrive', "entity || ':' || " ~ crm_text('id')) }} || ':' || field_code as custom_field_value_key,
    entity,
    {{ crm_key('pipedrive', 'id') }} as record_key,
    {{ crm_text('id') }} as record_id,
    field_code as field_key,
    field_name,
    field_type,
    value
from resolved
where coalesce(value, '') <> ''
