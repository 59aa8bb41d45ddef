-- Pipedrive activities: a due date, an optional due time and duration, all in UTC.
with activities as (
    select
        *,
        {{ crm_date('due_date') }} + cast(coalesce(nullif(due_time, ''), '00:00:00') as time) as starts_at_utc
    from {{ source('pipedrive', 'activities') }}
)

select
    {{ crm_row_origin('pipedrive') }},
    {{ crm_key('pipedrive', 'id') }} as activity_key,
    {{ crm_text('id') }} as activity_id,
    nullif(subject, '') as subject,
    "type" as type,
    coalesce(done, false) as is_done,
    starts_at_utc as starts_at,
    case when nullif(duration, '') is not null
        then starts_at_utc + cast(duration as interval)
    end as ends_at,
    {{ crm_json_text('location', 'value') }} as location,
    nullif(note, '') as note,
    {{ crm_key('pipedrive', 'owner_id') }} as owner_user_key,
    {{ crm_text('owner_id') }} as owner_user_id,
    {{ crm_key('pipedrive', 'deal_id') }} as deal_key,
    {{ crm_text('deal_id') }} as deal_id,
    {{ crm_key('pipedrive', 'person_id') }} as person_key,
    {{ crm_text('person_id') }} as person_id,
    {{ crm_key('pipedrive', 'org_id') }} as organization_key,
    {{ crm_text('org_id') }} as organization_id,
    coalesce(is_deleted, false) as is_deleted,
    {{ crm_timestamp('add_time') }} as created_at,
    {{ crm_timestamp('update_time') }} as updated_at
from activities
