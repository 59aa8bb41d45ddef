with notes as (
    {{ crm_union(
        ['stg_pipedrive__notes', 'stg_onpipeline__notes'],
        ['note_key', 'provider', 'account', 'note_id', 'content', 'deal_key', 'deal_id',
         'person_key', 'person_id', 'organization_key', 'organization_id', 'author_user_key',
         'author_user_id', 'is_deleted', 'created_at', 'updated_at']
    ) }}
)

select
    notes.note_key,
    notes.provider,
    notes.account,
    notes.note_id,
    notes.content,
    deals.deal_key,
    notes.deal_id,
    persons.person_key,
    notes.person_id,
    organizations.organization_key,
    notes.organization_id,
    users.user_key as author_user_key,
    notes.author_user_id,
    notes.is_deleted,
    notes.created_at,
    notes.updated_at
from notes
left join {{ ref('crm_deals') }} as deals on deals.deal_key = notes.deal_key
left join {{ ref('crm_persons') }} as persons on persons.person_key = notes.person_key
left join {{ ref('crm_organizations') }} as organizations
    on organizations.organization_key = notes.organization_key
left join {{ ref('crm_users') }} as users on users.user_key = notes.author_user_key
