-- Pipedrive activities and Onpipeline events.
with activities as (
    {{ crm_union(
        ['stg_pipedrive__activities', 'stg_onpipeline__events'],
        ['activity_key', 'provider', 'account', 'activity_id', 'subject', 'type', 'is_done',
         'starts_at', 'ends_at', 'location', 'note', 'owner_user_key', 'owner_user_id', 'deal_key',
         'deal_id', 'person_key', 'person_id', 'organization_key', 'organization_id', 'is_deleted',
         'created_at', 'updated_at']
    ) }}
)

select
    activities.activity_key,
    activities.provider,
    activities.account,
    activities.activity_id,
    activities.subject,
    activities.type,
    activities.is_done,
    activities.starts_at,
    activities.ends_at,
    activities.location,
    activities.note,
    users.user_key as owner_user_key,
    activities.owner_user_id,
    deals.deal_key,
    activities.deal_id,
    persons.person_key,
    activities.person_id,
    organizations.organization_key,
    activities.organization_id,
    activities.is_deleted,
    activities.created_at,
    activities.updated_at
from activities
left join {{ ref('crm_users') }} as users on users.user_key = activities.owner_user_key
left join {{ ref('crm_deals') }} as deals on deals.deal_key = activities.deal_key
left join {{ ref('crm_persons') }} as persons on persons.person_key = activities.person_key
left join {{ ref('crm_organizations') }} as organizations
    on organizations.organization_key = activities.organization_key
