-- Every phone of a person (Pipedrive: phones = [{value, label, primary}]), in the API's order.
with elements as (
    select
        id,
        {{ crm_list_elements('phones') }} as element,
        {{ crm_list_index('phones') }} as position
    from {{ source('pipedrive', 'persons') }}
)

select
    {{ crm_row_origin('pipedrive') }},
    {{ crm_key('pipedrive', 'id') }} || ':' || {{ crm_text('position') }} as person_phone_key,
    {{ crm_key('pipedrive', 'id') }} as person_key,
    {{ crm_text('id') }} as person_id,
    cast(position as integer) as position,
    {{ crm_json_text('element', 'value') }} as phone,
    {{ crm_json_text('element', 'label') }} as label,
    coalesce({{ crm_json_text('element', 'primary') }} = 'true', false) as is_primary
from elements
where coalesce({{ crm_json_text('element', 'value') }}, '') <> ''
