with stages as (
    {{ crm_union(
        ['stg_pipedrive__stages', 'stg_onpipeline__stages'],
        ['stage_key', 'provider', 'account', 'stage_id', 'name', 'pipeline_key', 'pipeline_id',
         'position', 'deal_probability', 'is_deleted']
    ) }}
)

select
    stages.stage_key,
    stages.provider,
    stages.account,
    stages.stage_id,
    stages.name,
    stages.pipeline_key,
    stages.pipeline_id,
    pipelines.name as pipeline_name,
    stages.position,
    stages.deal_probability,
    stages.is_deleted
from stages
left join {{ ref('crm_pipelines') }} as pipelines on pipelines.pipeline_key = stages.pipeline_key
