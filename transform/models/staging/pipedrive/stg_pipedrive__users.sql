select
    {{ crm_row_origin('pipedrive') }},
    {{ crm_key('pipedrive', 'id') }} as user_key,
    {{ crm_text('id') }} as user_id,
    nullif(name, '') as name,
    nullif(email, '') as email,
    coalesce(active_flag, true) as is_active,
    coalesce(is_admin, 0) = 1 as is_admin,
    {{ crm_timestamp('created') }} as created_at,
    {{ crm_timestamp('modified') }} as updated_at
from {{ source('pipedrive', 'users') }}
