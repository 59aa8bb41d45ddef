select
    {{ crm_row_origin('pipedrive') }},
    {{ crm_key('pipedrive', 'id') }} as person_key,
    {{ crm_text('id') }} as person_id,
    nullif(name, '') as name,
    nullif(first_name, '') as first_name,
    nullif(last_name, '') as last_name,
    {{ crm_key('pipedrive', 'org_id') }} as organization_key,
    {{ crm_text('org_id') }} as organization_id,
    {{ crm_key('pipedrive', 'owner_id') }} as owner_user_key,
    {{ crm_text('owner_id') }} as owner_user_id,
    nullif(job_title, '') as job_title,
    coalesce(is_deleted, false) as is_deleted,
    {{ crm_timestamp('add_time') }} as created_at,
    {{ crm_timestamp('update_time') }} as updated_at
from {{ source('pipedrive', 'persons') }}
