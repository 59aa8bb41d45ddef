with phones as (
    {{ crm_union(
        ['stg_pipedrive__person_phones', 'stg_onpipeline__person_phones'],
        ['person_phone_key', 'provider', 'account', 'person_key', 'person_id', 'position',
         'phone', 'label', 'is_primary']
    ) }}
)

select phones.*
from phones
inner join {{ ref('crm_persons') }} as persons on persons.person_key = phones.person_key
