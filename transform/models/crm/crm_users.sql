{{ crm_union(
    ['stg_pipedrive__users', 'stg_onpipeline__users'],
    ['user_key', 'provider', 'account', 'user_id', 'name', 'email', 'is_active', 'is_admin',
     'created_at', 'updated_at']
) }}
