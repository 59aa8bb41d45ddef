select
    {{ crm_row_origin('onpipeline') }},
    {{ crm_key('onpipeline', '"PersonID"') }} as person_key,
    {{ crm_text('"PersonID"') }} as person_id,
    coalesce(
        nullif("Fullname", ''),
        nullif(concat_ws(' ', nullif("FirstName", ''), nullif("LastName", '')), '')
    ) as name,
    nullif("FirstName", '') as first_name,
    nullif("LastName", '') as last_name,
    {{ crm_key('onpipeline', 'nullif("OrgID", \'\')') }} as organization_key,
    nullif({{ crm_text('"OrgID"') }}, '') as organization_id,
    cast(null as {{ dbt.type_string() }}) as owner_user_key,
    cast(null as {{ dbt.type_string() }}) as owner_user_id,
    cast(null as {{ dbt.type_string() }}) as job_title,
    false as is_deleted,
    {{ crm_timestamp('"Created"') }} as created_at,
    cast(null as {{ dbt.type_timestamp() }}) as updated_at
from {{ source('onpipeline', 'persons') }}
