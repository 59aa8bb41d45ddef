-- Onpipeline deals name their pipeline and stage; the ids come from the pipelines stream.
with stages as (
    select * from {{ ref('stg_onpipeline__stages') }}
),

pipelines as (
    select * from {{ ref('stg_onpipeline__pipelines') }}
)

select
    {{ crm_row_origin('onpipeline') }},
    {{ crm_key('onpipeline', 'deals."DealID"') }} as deal_key,
    {{ crm_text('deals."DealID"') }} as deal_id,
    nullif(deals."DealName", '') as title,
    {{ crm_decimal('deals."Value"') }} as value,
    {{ crm_literal(crm_setting('onpipeline_currency')) }} as currency,
    deals."Status" as status,
    pipelines.pipeline_key,
    stages.stage_key,
    {{ crm_key('onpipeline', 'nullif(deals."OwnerID", \'\')') }} as owner_user_key,
    nullif({{ crm_text('deals."OwnerID"') }}, '') as owner_user_id,
    {{ crm_key('onpipeline', 'nullif(deals."LinkedPersonID", \'\')') }} as person_key,
    nullif({{ crm_text('deals."LinkedPersonID"') }}, '') as person_id,
    {{ crm_key('onpipeline', 'nullif(deals."LinkedOrgID", \'\')') }} as organization_key,
    nullif({{ crm_text('deals."LinkedOrgID"') }}, '') as organization_id,
    {{ crm_decimal('deals."Probability"') }} as probability,
    {{ crm_date('deals."ExpClosing"') }} as expected_close_date,
    nullif(deals."LostReason", '') as lost_reason,
    {{ crm_timestamp('deals."Created"') }} as created_at,
    {{ crm_timestamp('deals."LastUpdate"') }} as updated_at,
    {{ crm_timestamp(crm_date('deals."Closed"')) }} as closed_at,
    cast(null as {{ dbt.type_timestamp() }}) as won_at,
    cast(null as {{ dbt.type_timestamp() }}) as lost_at
from {{ source('onpipeline', 'deals') }} as deals
left join pipelines on pipelines.name = deals."Pipeline"
left join stages
    on stages.pipeline_key = pipelines.pipeline_key and stages.name = deals."Stage"
