select
    {{ crm_row_origin('onpipeline') }},
    {{ crm_key('onpipeline', '"PipelineID"') }} as pipeline_key,
    {{ crm_text('"PipelineID"') }} as pipeline_id,
    nullif("PipelineName", '') as name,
    cast(null as integer) as position,
    false as is_deleted
from {{ source('onpipeline', 'pipelines') }}
