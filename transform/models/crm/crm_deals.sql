with deals as (
    {{ crm_union(
        ['stg_pipedrive__deals', 'stg_onpipeline__deals'],
        ['deal_key', 'provider', 'account', 'deal_id', 'title', 'value', 'currency', 'status',
         'pipeline_key', 'stage_key', 'owner_user_key', 'owner_user_id', 'person_key', 'person_id',
         'organization_key', 'organization_id', 'probability', 'expected_close_date',
         'lost_reason', 'created_at', 'updated_at', 'closed_at', 'won_at', 'lost_at']
    ) }}
)

select
    deals.deal_key,
    deals.provider,
    deals.account,
    deals.deal_id,
    deals.title,
    deals.value,
    deals.currency,
    deals.status,
    pipelines.pipeline_key,
    pipelines.name as pipeline_name,
    stages.stage_key,
    stages.name as stage_name,
    users.user_key as owner_user_key,
    deals.owner_user_id,
    users.name as owner_name,
    persons.person_key,
    deals.person_id,
    organizations.organization_key,
    deals.organization_id,
    deals.probability,
    deals.expected_close_date,
    deals.lost_reason,
    deals.created_at,
    deals.updated_at,
    deals.closed_at,
    deals.won_at,
    deals.lost_at
from deals
left join {{ ref('crm_pipelines') }} as pipelines on pipelines.pipeline_key = deals.pipeline_key
left join {{ ref('crm_stages') }} as stages on stages.stage_key = deals.stage_key
left join {{ ref('crm_users') }} as users on users.user_key = deals.owner_user_key
left join {{ ref('crm_persons') }} as persons on persons.person_key = deals.person_key
left join {{ ref('crm_organizations') }} as organizations
    on organizations.organization_key = deals.organization_key
