-- The field changes of each deal's flow (object = dealChange): which field, from what, to what.
select
    {{ crm_row_origin('pipedrive') }},
    {{ crm_key('pipedrive', 'id') }} as deal_change_key,
    {{ crm_text('id') }} as deal_change_id,
    {{ crm_key('pipedrive', 'deal_id') }} as deal_key,
    {{ crm_text('deal_id') }} as deal_id,
    {{ crm_json_text('data', 'field_key') }} as field,
    {{ crm_json_text('data', 'old_value') }} as old_value,
    {{ crm_json_text('data', 'new_value') }} as new_value,
    {{ crm_key('pipedrive', crm_json_text('data', 'user_id')) }} as user_key,
    {{ crm_json_text('data', 'user_id') }} as user_id,
    {{ crm_json_text('data', 'change_source') }} as change_source,
    {{ crm_timestamp('"timestamp"') }} as changed_at
from {{ source('pipedrive', 'deal_flow') }}
where "object" = 'dealChange'
