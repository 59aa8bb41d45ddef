-- Custom field values of deals, persons and organizations, one row per record and field that
-- has a value, by the field's readable name. record_key is a crm_deals.deal_key,
-- crm_persons.person_key or crm_organizations.organization_key, as `entity` says.
with custom_field_values as (
    {{ crm_union(
        ['stg_pipedrive__custom_field_values', 'stg_onpipeline__custom_field_values'],
        ['custom_field_value_key', 'provider', 'account', 'entity', 'record_key', 'record_id',
         'field_key', 'field_name', 'field_type', 'value']
    ) }}
),

records as (
    select 'deal' as entity, deal_key as record_key from {{ ref('crm_deals') }}
    union all
    select 'person', person_key from {{ ref('crm_persons') }}
    union all
    select 'organization', organization_key from {{ ref('crm_organizations') }}
)

select custom_field_values.*
from custom_field_values
inner join records
    on records.entity = custom_field_values.entity
    and records.record_key = custom_field_values.record_key
