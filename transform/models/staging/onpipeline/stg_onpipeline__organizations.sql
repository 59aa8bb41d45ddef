select
    {{ crm_row_origin('onpipeline') }},
    {{ crm_key('onpipeline', '"OrgID"') }} as organization_key,
    {{ crm_text('"OrgID"') }} as organization_id,
    nullif("OrgName", '') as name,
    cast(null as {{ dbt.type_string() }}) as owner_user_key,
    cast(null as {{ dbt.type_string() }}) as owner_user_id,
    coalesce(
        nullif("FullAddress", ''),
        nullif(concat_ws(', ', nullif("Address1", ''), nullif("Address2", '')), '')
    ) as address,
    nullif("City", '') as city,
    nullif("Postcode", '') as postal_code,
    nullif("Region", '') as region,
    nullif("Country", '') as country,
    cast(null as {{ dbt.type_string() }}) as website,
    false as is_deleted,
    {{ crm_timestamp('"Created"') }} as created_at,
    cast(null as {{ dbt.type_timestamp() }}) as updated_at
from {{ source('onpipeline', 'organizations') }}
