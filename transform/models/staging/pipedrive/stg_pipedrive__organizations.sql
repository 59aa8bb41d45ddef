select
    {{ crm_row_origin('pipedrive') }},
    {{ crm_key('pipedrive', 'id') }} as organization_key,
    {{ crm_text('id') }} as organization_id,
    nullif(name, '') as name,
    {{ crm_key('pipedrive', 'owner_id') }} as owner_user_key,
    {{ crm_text('owner_id') }} as owner_user_id,
    {{ crm_json_text('address', 'value') }} as address,
    {{ crm_json_text('address', 'locality') }} as city,
    {{ crm_json_text('address', 'postal_code') }} as postal_code,
    {{ crm_json_text('address', 'admin_area_level_1') }} as region,
    {{ crm_json_text('address', 'country') }} as country,
    nullif(website, '') as website,
    coalesce(is_deleted, false) as is_deleted,
    {{ crm_timestamp('add_time') }} as created_at,
    {{ crm_timestamp('update_time') }} as updated_at
from {{ source('pipedrive', 'organizations') }}
