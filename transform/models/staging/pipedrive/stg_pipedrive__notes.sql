select
    {{ crm_row_origin('pipedrive') }},
    {{ crm_key('pipedrive', 'id') }} as note_key,
    {{ crm_text('id') }} as note_id,
    nullif(content, '') as content,
    {{ crm_key('pipedrive', 'deal_id') }} as deal_key,
    {{ crm_text('deal_id') }} as deal_id,
    {{ crm_key('pipedrive', 'person_id') }} as person_key,
    {{ crm_text('person_id') }} as person_id,
    {{ crm_key('pipedrive', 'org_id') }} as organization_key,
    {{ crm_text('org_id') }} as organization_id,
    {{ crm_key('pipedrive', 'user_id') }} as author_user_key,
    {{ crm_text('user_id') }} as author_user_id,
    not coalesce(active_flag, true) as is_deleted,
    {{ crm_timestamp('add_time') }} as created_at,
    {{ crm_timestamp('update_time') }} as updated_at
from {{ source('pipedrive', 'notes') }}
