select
    {{ crm_row_origin('onpipeline') }},
    {{ crm_key('onpipeline', '"ID"') }} as user_key,
    {{ crm_text('"ID"') }} as user_id,
    nullif("Name", '') as name,
    nullif("Email", '') as email,
    coalesce("Status", 1) = 1 as is_active,
    coalesce("AdminFlag", 0) = 1 as is_admin,
    cast(null as {{ dbt.type_timestamp() }}) as created_at,
    cast(null as {{ dbt.type_timestamp() }}) as updated_at
from {{ source('onpipeline', 'users') }}
