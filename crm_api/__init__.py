"""crm-singer: crm_api, the one place that knows how to talk to each provider.

``crm_api.pipedrive`` (URLs, auth incl. OAuth rotation, errors, the JSON envelope, rate-limit
headers, costs), ``crm_api.onpipeline`` (the same for Onpipeline), ``crm_api.governor`` (the
shared request budget), ``crm_api.urls`` (where a request may go: https, or http to loopback
only; URLs in messages without their userinfo), ``crm_api.cli`` (config-file problems the tap's
and the target's command lines report in one line) and ``crm_api.oauth_cli`` (the
``crm-oauth`` command). Nothing here knows Singer.
"""
