"""Every setting tap-crm reads, declared in one place (they make ``--about``, the README's
settings tables and meltano.yml's settings)."""

from __future__ import annotations

from singer_sdk import typing as th

from crm_api.onpipeline import REQUESTS_PER_MINUTE

PROVIDER_NAMES = ("onpipeline", "pipedrive")

COMMON_SETTINGS: list[th.Property] = [
    th.Property(
        "provider",
        th.StringType,
        required=True,
        allowed_values=list(PROVIDER_NAMES),
        description="Which CRM to read: `pipedrive` or `onpipeline`.",
    ),
    th.Property(
        "api_token",
        th.StringType,
        secret=True,
        description="The API token (Pipedrive: Settings > Personal preferences > API; "
        "Onpipeline: the account's API token).",
    ),
    th.Property(
        "api_url",
        th.StringType,
        description="Base URL of the API. Default: the provider's public API. Set it to a "
        "Pipedrive company domain, or to a crm-sandbox URL to try things safely.",
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        description="Earliest record time to sync on the first run (RFC 3339). "
        "Default: everything.",
    ),
]

PIPEDRIVE_SETTINGS: list[th.Property] = [
    th.Property(
        "client_id",
        th.StringType,
        description="Pipedrive OAuth: the app's client id (instead of api_token).",
    ),
    th.Property(
        "client_secret",
        th.StringType,
        secret=True,
        description="Pipedrive OAuth: the app's client secret.",
    ),
    th.Property(
        "refresh_token",
        th.StringType,
        secret=True,
        description="Pipedrive OAuth: the refresh token from `crm-oauth` (needed only until "
        "oauth_token_file holds one).",
    ),
    th.Property(
        "oauth_token_file",
        th.StringType,
        description="Pipedrive OAuth: a file where the current refresh token is kept. Pipedrive "
        "may hand out a new refresh token on every refresh; the tap writes it here (mode 0600) "
        "and reads it on the next run, so it wins over refresh_token. `crm-oauth` creates it. "
        "Required with OAuth.",
    ),
    th.Property(
        "oauth_url",
        th.StringType,
        description="Pipedrive OAuth server. Default: https://oauth.pipedrive.com, or api_url "
        "when api_url is not a pipedrive.com host (e.g. crm-sandbox).",
    ),
    th.Property(
        "page_size",
        th.IntegerType(minimum=1, maximum=500),
        default=500,
        description="Pipedrive: records per page (1-500). A request costs the same whatever "
        "its size, so the maximum is the cheapest.",
    ),
    th.Property(
        "custom_field_columns",
        th.BooleanType,
        default=True,
        description="Pipedrive: add each custom field as a typed column named from its label "
        "(e.g. `lead_score`), next to the raw `custom_fields` hash keyed by 40-character field "
        "codes. Set false to get only the raw hash.",
    ),
    th.Property(
        "custom_field_option_labels",
        th.BooleanType,
        default=True,
        description="Pipedrive: for single- and multiple-option custom fields, also emit "
        "`<name>_label` / `<name>_labels` with the option labels.",
    ),
    th.Property(
        "include_fields",
        th.CustomType({"type": ["string", "array"], "items": {"type": "string"}}),
        default="all",
        description="Pipedrive: the v2 `include_fields` extras to ask the deals, persons, "
        "organizations and activities lists for (counts such as `activities_count`, "
        "`won_deals_count`, `people_count`, `next_activity_id`, `first_won_time`, deal "
        "`source_lead_id`, activity `attendees` ...; API v1 sent them by default). `all` "
        "(default: every extra except the Campaigns-only `marketing_status`/`doi_status`), "
        "`none`, or the names to ask for, as a list or comma-separated. No extra request "
        "and no documented extra token cost. See docs/columns.md.",
    ),
    th.Property(
        "max_concurrent_requests",
        th.IntegerType(minimum=1, maximum=32),
        default=8,
        description="Pipedrive: requests in flight at once for per-parent streams (followers "
        "changelogs). They all share one rate budget, so more never exceeds the limit.",
    ),
    th.Property(
        "max_requests_per_2s",
        th.IntegerType(minimum=1),
        description="Pipedrive: your own ceiling on requests per 2-second window, e.g. to leave "
        "room for other integrations on the same token. Default: the limit the API announces "
        "in its x-ratelimit-limit header.",
    ),
    th.Property(
        "max_tokens_per_run",
        th.IntegerType(minimum=1),
        description="Pipedrive: the most daily-budget tokens one run may spend (the budget is "
        "shared by every integration of the company). When the next request would pass it, "
        "the run stops with a resumable state, says so in one line and exits with status 3; "
        "the next run continues where it stopped. Default: no cap. See docs/costs.md.",
    ),
    th.Property(
        "daily_budget_share",
        th.NumberType(minimum=0, maximum=1),
        description="Pipedrive: the share (e.g. 0.5) of the tokens the API says are left of "
        "the day (x-daily-ratelimit-token-remaining at the run's first request) that one run "
        "may spend; stops as max_tokens_per_run does (the lower of the two wins). Ignored "
        "when the API sends no such header. Default: no cap.",
    ),
    th.Property(
        "deal_history",
        th.StringType,
        default="flow",
        allowed_values=["flow", "changelog"],
        description="Pipedrive: where a deal's history comes from. `flow` (default): stream "
        "`deal_flow` from /v1/deals/{id}/flow, 40 tokens a changed deal: field changes with "
        "typed values plus the deal's notes, files and activities. `changelog`: stream "
        "`deal_changelog` from /v1/deals/{id}/changelog, 20 tokens a changed deal: the field "
        "changes only (custom fields included), values as text. See docs/costs.md.",
    ),
    th.Property(
        "cost_estimate_probe",
        th.BooleanType,
        default=True,
        description="Pipedrive: when per-parent streams (followers changelogs, deal flow, "
        "deal products, installments) are selected, list their parents changed since the "
        "bookmarks before the run (one list page per 500 parents, e.g. 60 tokens on an idle "
        "run with all of them) so the run's cost estimate counts their requests exactly. "
        "Off: the estimate counts one page per list, a floor. See docs/costs.md.",
    ),
    th.Property(
        "max_request_tries",
        th.IntegerType(minimum=1),
        default=10,
        description="Pipedrive: attempts per request before a 429, 5xx or dropped connection "
        "fails the run (waits: Retry-After on 429, else 1, 2, 4 ... 60 s).",
    ),
    th.Property(
        "request_timeout",
        th.IntegerType(minimum=1),
        default=120,
        description="Pipedrive: seconds to wait for one response.",
    ),
]

ONPIPELINE_SETTINGS: list[th.Property] = [
    th.Property(
        "timezone",
        th.StringType,
        default="UTC",
        description="Onpipeline: the account's time zone as an IANA name (e.g. `Europe/Rome`). "
        "The API's datetimes are local times without an offset; the tap emits them in UTC.",
    ),
    th.Property(
        "onpipeline_window_days",
        th.IntegerType(minimum=1),
        default=365,
        description="Onpipeline: the largest creation-date (or invoice-date) window asked for "
        "in one request, in days. Windows start at one day and grow while answers are small.",
    ),
    th.Property(
        "onpipeline_max_records_per_window",
        th.IntegerType(minimum=2),
        default=2000,
        description="Onpipeline: an answer with this many records or more is split into two "
        "half windows and asked again (the API has no paging). Bounds memory per request.",
    ),
    th.Property(
        "invoice_lookback_days",
        th.IntegerType(minimum=0),
        default=90,
        description="Onpipeline: invoices dated this many days before the last sync are read "
        "again on each run, to catch payments and edits of recent invoices.",
    ),
    th.Property(
        "onpipeline_requests_per_minute",
        th.IntegerType(minimum=0),
        default=REQUESTS_PER_MINUTE,
        description="Onpipeline: requests per minute the tap allows itself (the vendor's "
        "published limit is 60 per account; 0 = no pacing, e.g. against crm-sandbox).",
    ),
]
