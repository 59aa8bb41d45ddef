"""Query parameters, cursors and envelopes of the Pipedrive API (research §1-2)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from crm_sandbox.core import Request, Response
from crm_sandbox.pipedrive import timefmt
from crm_sandbox.pipedrive.validate import invalid

MAX_LIMIT = 500
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def dumps(value: Any) -> bytes:
    return _encode(value).encode("utf-8")


# ---- list parameters ---------------------------------------------------------------------
@dataclass(frozen=True)
class ListSpec:
    sorts: tuple[str, ...]
    int_filters: tuple[str, ...] = ()
    updated: bool = True


BASE_SORTS = ("id", "update_time", "add_time")
LIST_SPECS = {
    "deals": ListSpec(BASE_SORTS, ("owner_id", "person_id", "org_id", "pipeline_id", "stage_id")),
    "persons": ListSpec(BASE_SORTS, ("owner_id", "org_id")),
    "organizations": ListSpec(BASE_SORTS, ("owner_id",)),
    "activities": ListSpec(
        (*BASE_SORTS, "due_date"), ("owner_id", "deal_id", "person_id", "org_id")
    ),
    "products": ListSpec(("id", "name", "add_time", "update_time"), ("owner_id",)),
    "pipelines": ListSpec(BASE_SORTS, (), updated=False),
    "stages": ListSpec((*BASE_SORTS, "order_nr"), ("pipeline_id",), updated=False),
}


def q_int(req: Request, name: str, minimum: int = 1) -> int | None:
    raw = req.arg(name)
    if raw is None or raw == "":
        return None
    if not re.fullmatch(r"-?\d+", raw) or int(raw) < minimum:
        raise invalid(f"{name}: must be an integer >= {minimum}")
    return int(raw)


def q_time(req: Request, name: str) -> int | None:
    raw = req.arg(name)
    if raw is None or raw == "":
        return None
    epoch = timefmt.parse_rfc3339(raw)
    if epoch is None:
        raise invalid(
            f"{name}: '{raw}' is not a valid datetime"
            " (RFC 3339 with whole seconds, e.g. 2025-01-01T10:20:00Z)"
        )
    return epoch


def q_limit(req: Request, default: int = 100) -> int:
    limit = q_int(req, "limit")
    if limit is None:
        return default
    if limit > MAX_LIMIT:
        raise invalid(f"limit: must be less than or equal to {MAX_LIMIT}")
    return limit


def q_choice(req: Request, name: str, allowed: Iterable[str], default: str | None) -> str | None:
    raw = req.arg(name)
    if raw is None or raw == "":
        return default
    allowed = tuple(allowed)
    if raw not in allowed:
        raise invalid(f"{name}: must be equal to one of the allowed values: {', '.join(allowed)}")
    return raw


def q_ids(req: Request) -> list[int] | None:
    raw = req.arg("ids")
    if raw is None or raw == "":
        return None
    parts = raw.split(",")
    if not all(re.fullmatch(r"\d+", p.strip()) for p in parts):
        raise invalid("ids: must be a comma-separated list of integers")
    if len(parts) > 100:
        raise invalid("ids: must contain at most 100 ids")
    return [int(p) for p in parts]


def encode_cursor(payload: dict[str, Any]) -> str:
    return (
        base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
        .rstrip(b"=")
        .decode()
    )


def decode_cursor(raw: str) -> dict[str, Any]:
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("utf-8")
        payload = json.loads(text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid("cursor: invalid cursor") from None
    if not isinstance(payload, dict):
        raise invalid("cursor: invalid cursor")
    return payload


def envelope(items: list[bytes], additional: Any) -> Response:
    body = (
        b'{"success":true,"data":['
        + b",".join(items)
        + b'],"additional_data":'
        + dumps(additional)
        + b"}"
    )
    return Response(200, body, {"Content-Type": "application/json; charset=utf-8"})


def ok(payload: Any, status: int = 200, additional: Any = None) -> Response:
    body: dict[str, Any] = {"success": True, "data": payload}
    if additional is not None:
        body["additional_data"] = additional
    return Response.json(status, body)
