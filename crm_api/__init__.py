"""crm-singer: crm_api, the one place that knows how to talk to each provider.

``crm_api.pipedrive`` (URLs, auth incl. OAuth rotation, errors, rate-limit headers, costs),
``crm_api.onpipeline`` (the same for Onpipeline), ``crm_api.governor`` (the shared request
budget) and ``crm_api.oauth_cli`` (the ``crm-oauth`` command). Nothing here knows Singer.
"""
