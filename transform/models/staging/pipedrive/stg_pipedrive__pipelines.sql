select
    {{ crm_row_origin('pipedrive') }},
    {{ crm_key('pipedrive', 'id') }} as pipeline_key,
    {{ crm_text('id') }} as pipeline_id,
    nullif(name, '') as name,
    cast(order_nr as integer) as position,
    coalesce(is_deleted, false) as is_deleted
from {{ source('pipedrive', 'pipelines') }}
