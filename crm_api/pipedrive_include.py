"""The v2 ``include_fields`` extras: fields Pipedrive v2 lists return only when asked.

API v1 returned a deal's ``activities_count``, a person's ``won_deals_count`` ... by default;
v2 returns them only when the list is asked for them by name (``include_fields=a,b``), one
list call, no extra token cost in the docs. Shared by the tap (what to ask for, the column
types) and the target (which of them Pipedrive computes itself, so they are never sent).
Allowed values: research/pipedrive-api.md §2 (the official v2 client's JSDoc).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

_ACTIVITY_COUNTS = (
    "next_activity_id",
    "last_activity_id",
    "activities_count",
    "done_activities_count",
    "undone_activities_count",
)
_CONTACT_DEAL_COUNTS = (
    "open_deals_count",
    "related_open_deals_count",
    "closed_deals_count",
    "related_closed_deals_count",
    "won_deals_count",
    "related_won_deals_count",
    "lost_deals_count",
    "related_lost_deals_count",
)
_COMMON = ("files_count", "notes_count", "followers_count", "email_messages_count")

# stream -> every include_fields value its v2 list accepts
INCLUDE_FIELDS: dict[str, tuple[str, ...]] = {
    "deals": (
        *_ACTIVITY_COUNTS,
        "first_won_time",
        "products_count",
        *_COMMON,
        "participants_count",
        "last_incoming_mail_time",
        "last_outgoing_mail_time",
        "smart_bcc_email",
        "source_lead_id",
    ),
    "persons": (
        *_ACTIVITY_COUNTS,
        *_CONTACT_DEAL_COUNTS,
        "participant_open_deals_count",
        "participant_closed_deals_count",
        *_COMMON,
        "last_incoming_mail_time",
        "last_outgoing_mail_time",
        "smart_bcc_email",
        "marketing_status",
        "doi_status",
    ),
    "organizations": (
        *_ACTIVITY_COUNTS,
        *_CONTACT_DEAL_COUNTS,
        *_COMMON,
        "people_count",
        "smart_bcc_email",
    ),
    "activities": ("attendees",),
}

# Asked for only when named: they need Pipedrive's Campaigns (marketing) app, which most
# accounts do not have.
NAMED_ONLY = frozenset({"marketing_status", "doi_status"})

# Extras a v2 POST/PATCH body may carry (everything else is computed by Pipedrive).
WRITABLE = {"activities": frozenset({"attendees"}), "persons": frozenset({"marketing_status"})}


def read_only(stream: str) -> frozenset[str]:
    """The extras of ``stream`` that Pipedrive computes (counts, ids, times): never sent."""
    return frozenset(INCLUDE_FIELDS.get(stream, ())) - WRITABLE.get(stream, frozenset())


def requested_names(setting: Any) -> tuple[str, frozenset[str]]:
    """The ``include_fields`` setting as ``("all" | "none" | "list", names)``."""
    if setting is None:
        return "all", frozenset()
    if isinstance(setting, str):
        text = setting.strip()
        if text.lower() in {"all", ""}:
            return "all", frozenset()
        if text.lower() == "none":
            return "none", frozenset()
        if text.startswith("["):  # a JSON list given as text (an environment variable)
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                return requested_names(parsed)
        return "list", frozenset(p.strip() for p in text.split(",") if p.strip())
    if isinstance(setting, Iterable):
        return "list", frozenset(str(p).strip() for p in setting if str(p).strip())
    return "list", frozenset({str(setting)})


def setting_problems(setting: Any) -> list[str]:
    """One clear line per name of the setting that no entity accepts."""
    if setting is not None and not isinstance(setting, str | list | tuple):
        return ['include_fields must be "all", "none" or a list of field names']
    mode, names = requested_names(setting)
    known = {name for names_ in INCLUDE_FIELDS.values() for name in names_}
    unknown = sorted(names - known) if mode == "list" else []
    if unknown:
        return [
            f"include_fields: {', '.join(unknown)} is not an include_fields value of any "
            'entity; use "all", "none" or names listed in docs/columns.md (e.g. '
            "activities_count, won_deals_count, people_count)"
        ]
    return []


def chosen(stream: str, setting: Any) -> tuple[str, ...]:
    """The extras to ask ``stream``'s list for, in the API's order (empty: none)."""
    mode, names = requested_names(setting)
    allowed = INCLUDE_FIELDS.get(stream, ())
    if mode == "none":
        return ()
    if mode == "all":
        return tuple(name for name in allowed if name not in NAMED_ONLY)
    return tuple(name for name in allowed if name in names)
