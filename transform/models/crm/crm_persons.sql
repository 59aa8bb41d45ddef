-- One row per person; `email` and `phone` are the primary ones, `emails` and `phones` all of
-- them (in the CRM's order, comma-separated); crm_person_emails / crm_person_phones hold one
-- row each with its label.
with persons as (
    {{ crm_union(
        ['stg_pipedrive__persons', 'stg_onpipeline__persons'],
        ['person_key', 'provider', 'account', 'person_id', 'name', 'first_name', 'last_name',
         'organization_key', 'organization_id', 'owner_user_key', 'owner_user_id', 'job_title',
         'is_deleted', 'created_at', 'updated_at']
    ) }}
),

emails as (
    {{ crm_union(
        ['stg_pipedrive__person_emails', 'stg_onpipeline__person_emails'],
        ['person_key', 'position', 'email as value', 'is_primary']
    ) }}
),

phones as (
    {{ crm_union(
        ['stg_pipedrive__person_phones', 'stg_onpipeline__person_phones'],
        ['person_key', 'position', 'phone as value', 'is_primary']
    ) }}
),

email_lists as (
    select
        person_key,
        max(case when is_primary then value end) as primary_value,
        {{ dbt.listagg('value', "', '", 'order by position') }} as all_values,
        count(*) as value_count
    from emails
    group by person_key
),

phone_lists as (
    select
        person_key,
        max(case when is_primary then value end) as primary_value,
        {{ dbt.listagg('value', "', '", 'order by position') }} as all_values,
        count(*) as value_count
    from phones
    group by person_key
)

select
    persons.person_key,
    persons.provider,
    persons.account,
    persons.person_id,
    persons.name,
    persons.first_name,
    persons.last_name,
    email_lists.primary_value as email,
    email_lists.all_values as emails,
    coalesce(email_lists.value_count, 0) as email_count,
    phone_lists.primary_value as phone,
    phone_lists.all_values as phones,
    coalesce(phone_lists.value_count, 0) as phone_count,
    organizations.organization_key,
    persons.organization_id,
    users.user_key as owner_user_key,
    persons.owner_user_id,
    persons.job_title,
    persons.is_deleted,
    persons.created_at,
    persons.updated_at
from persons
left join email_lists on email_lists.person_key = persons.person_key
left join phone_lists on phone_lists.person_key = persons.person_key
left join {{ ref('crm_organizations') }} as organizations
    on organizations.organization_key = persons.organization_key
left join {{ ref('crm_users') }} as users on users.user_key = persons.owner_user_key
