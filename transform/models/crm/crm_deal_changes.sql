-- Field changes of deals, where the provider keeps a history (Pipedrive's deal flow;
-- Onpipeline has none).
with changes as (
    {{ crm_union(
        ['stg_pipedrive__deal_changes'],
        ['deal_change_key', 'provider', 'account', 'deal_change_id', 'deal_key', 'deal_id', 'field',
         'old_value', 'new_value', 'user_key', 'user_id', 'change_source', 'changed_at']
    ) }}
)

select
    changes.deal_change_key,
    changes.provider,
    changes.account,
    changes.deal_change_id,
    deals.deal_key,
    changes.deal_id,
    changes.field,
    changes.old_value,
    changes.new_value,
    users.user_key,
    changes.user_id,
    changes.change_source,
    changes.changed_at
from changes
left join {{ ref('crm_deals') }} as deals on deals.deal_key = changes.deal_key
left join {{ ref('crm_users') }} as users on users.user_key = changes.user_key
