with emails as (
    {{ crm_union(
        ['stg_pipedrive__person_emails', 'stg_onpipeline__person_emails'],
        ['person_email_key', 'provider', 'account', 'person_key', 'person_id', 'position',
         'email', 'label', 'is_primary']
    ) }}
)

select emails.*
from emails
inner join {{ ref('crm_persons') }} as persons on persons.person_key = emails.person_key
