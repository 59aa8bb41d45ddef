"""Every setting tap-crm reads, declared in one place (they make ``--about``, the README's
settings tables and meltano.yml's settings). The settings target-crm reads too are declared
once, in ``crm_api.settings``, and only placed here."""

from __future__ import annotations

from singer_sdk import typing as th

from crm_api import settings as shared

COMMON_SETTINGS: list[th.Property] = [
    shared.provider("tap"),
    shared.API_TOKEN,
    shared.API_URL,
    shared.max_request_tries("tap"),
    shared.request_timeout("tap"),
    th.Property(
        "start_date",
        th.DateTimeType,
        description="Earliest record time to sync on the first run (RFC 3339). "
        "Default: everything.",
    ),
]

PIPEDRIVE_SETTINGS: list[th.Property] = [
    *shared.PIPEDRIVE_OAUTH,
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
    shared.max_concurrent_requests("tap"),
    shared.MAX_REQUESTS_PER_2S,
    *shared.token_caps("tap"),
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
        description="Onpipeline: the largest creation-date (or invoice-date) window asked for "
        "in one request, in days. Unset: no limit; the first window is the whole span and "
        "windows are split only where an answer reaches onpipeline_max_records_per_window.",
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
    shared.ONPIPELINE_REQUESTS_PER_MINUTE,
]
