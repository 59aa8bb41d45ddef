-- Every email of a person (Onpipeline: Email = [{Address, Type}]), in the API's order; the
-- first is the primary one.
with elements as (
    select
        "PersonID" as person_id,
        {{ crm_list_elements('"Email"') }} as element,
        {{ crm_list_index('"Email"') }} as position
    from {{ source('onpipeline', 'persons') }}
)

select
    {{ crm_row_origin('onpipeline') }},
    {{ crm_key('onpipeline', 'person_id') }} || ':' || {{ crm_text('position') }} as person_email_key,
    {{ crm_key('onpipeline', 'person_id') }} as person_key,
    {{ crm_text('person_id') }} as person_id,
    cast(position as integer) as position,
    {{ crm_json_text('element', 'Address') }} as email,
    {{ crm_json_text('element', 'Type') }} as label,
    position = 1 as is_primary
from elements
where coalesce({{ crm_json_text('element', 'Address') }}, '') <> ''
