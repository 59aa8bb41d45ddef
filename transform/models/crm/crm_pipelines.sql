{{ crm_union(
    ['stg_pipedrive__pipelines', 'stg_onpipeline__pipelines'],
    ['pipeline_key', 'provider', 'account', 'pipeline_id', 'name', 'position', 'is_deleted']
) }}
