select
    {{ crm_row_origin('pipedrive') }},
    {{ crm_key('pipedrive', 'id') }} as stage_key,
    {{ crm_text('id') }} as stage_id,
    nullif(name, '') as name,
    {{ crm_key('pipedrive', 'pipeline_id') }} as pipeline_key,
    {{ crm_text('pipeline_id') }} as pipeline_id,
    cast(order_nr as integer) as position,
    {{ crm_decimal('deal_probability') }} as deal_probability,
    coalesce(is_deleted, false) as is_deleted
from {{ source('pipedrive', 'stages') }}
