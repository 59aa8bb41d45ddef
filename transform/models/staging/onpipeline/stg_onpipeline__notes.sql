-- An Onpipeline note hangs on one record: Type (person, deal, org) and LinkedID.
select
    {{ crm_row_origin('onpipeline') }},
    {{ crm_key('onpipeline', '"NoteID"') }} as note_key,
    {{ crm_text('"NoteID"') }} as note_id,
    nullif("Text", '') as content,
    {{ crm_key('onpipeline', 'case when "Type" = \'deal\' then "LinkedID" end') }} as deal_key,
    case when "Type" = 'deal' then {{ crm_text('"LinkedID"') }} end as deal_id,
    {{ crm_key('onpipeline', 'case when "Type" = \'person\' then "LinkedID" end') }} as person_key,
    case when "Type" = 'person' then {{ crm_text('"LinkedID"') }} end as person_id,
    {{ crm_key('onpipeline', 'case when "Type" = \'org\' then "LinkedID" end') }} as organization_key,
    case when "Type" = 'org' then {{ crm_text('"LinkedID"') }} end as organization_id,
    {{ crm_key('onpipeline', 'nullif("UserID", \'\')') }} as author_user_key,
    nullif({{ crm_text('"UserID"') }}, '') as author_user_id,
    coalesce("Deleted", 0) = 1 as is_deleted,
    {{ crm_timestamp('"Created"') }} as created_at,
    cast(null as {{ dbt.type_timestamp() }}) as updated_at
from {{ source('onpipeline', 'notes') }}
