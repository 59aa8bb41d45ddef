with organizations as (
    {{ crm_union(
        ['stg_pipedrive__organizations', 'stg_onpipeline__organizations'],
        ['organization_key', 'provider', 'account', 'organization_id', 'name', 'owner_user_key',
         'owner_user_id', 'address', 'city', 'postal_code', 'region', 'country', 'website',
         'is_deleted', 'created_at', 'updated_at']
    ) }}
)

select
    organizations.organization_key,
    organizations.provider,
    organizations.account,
    organizations.organization_id,
    organizations.name,
    users.user_key as owner_user_key,
    organizations.owner_user_id,
    organizations.address,
    organizations.city,
    organizations.postal_code,
    organizations.region,
    organizations.country,
    organizations.website,
    organizations.is_deleted,
    organizations.created_at,
    organizations.updated_at
from organizations
left join {{ ref('crm_users') }} as users on users.user_key = organizations.owner_user_key
