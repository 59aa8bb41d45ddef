-- Onpipeline stages live inside their pipeline (Stages = [{ID, Name}], in pipeline order); a
-- stage's key carries its pipeline's id.
with elements as (
    select
        "PipelineID" as pipeline_id,
        {{ crm_list_elements('"Stages"') }} as element,
        {{ crm_list_index('"Stages"') }} as position
    from {{ source('onpipeline', 'pipelines') }}
)

select
    {{ crm_row_origin('onpipeline') }},
    {{ crm_key('onpipeline', crm_text('pipeline_id') ~ " || '/' || " ~ crm_json_text('element', 'ID')) }} as stage_key,
    {{ crm_json_text('element', 'ID') }} as stage_id,
    {{ crm_json_text('element', 'Name') }} as name,
    {{ crm_key('onpipeline', 'pipeline_id') }} as pipeline_key,
    {{ crm_text('pipeline_id') }} as pipeline_id,
    cast(position as integer) as position,
    cast(null as numeric(18, 2)) as deal_probability,
    false as is_deleted
from elements
