"""v1 query parameters: a bad one gets v1's generic 400, not v2's schema-validation answer."""

from __future__ import annotations

from crm_sandbox.core import Request
from crm_sandbox.pipedrive import params, timefmt
from crm_sandbox.pipedrive.validate import Problem, failure


def q_int(req: Request, name: str, minimum: int = 1) -> int | None:
    try:
        return params.q_int(req, name, minimum)
    except Problem:
        raise failure(400, f"Bad request: {name} must be an integer >= {minimum}") from None


def q_time(req: Request, name: str) -> int | None:
    try:
        return params.q_time(req, name)
    except Problem:
        raise failure(
            400, f"Bad request: {name} must be RFC 3339, e.g. 2025-01-01T10:20:00Z"
        ) from None


def q_date(req: Request, name: str) -> int | None:
    raw = req.arg(name)
    if not raw:
        return None
    day = timefmt.parse_date(raw)
    if day is None:
        raise failure(400, f"{name} must be a date in format YYYY-MM-DD")
    return day


def parse_sort(raw: str | None, allowed: tuple[str, ...], default: str) -> list[tuple[str, bool]]:
    """v1 ``sort``: "field ASC, field2 DESC" (ASC when no direction)."""
    out = []
    for part in (raw or default).split(","):
        words = part.split()
        if not words or len(words) > 2 or words[0] not in allowed:
            fields = ", ".join(allowed)
            raise failure(400, f"Invalid sort field: {part.strip()!r}; use one of {fields}")
        way = words[1].upper() if len(words) == 2 else "ASC"
        if way not in ("ASC", "DESC"):
            raise failure(400, f"Invalid sort direction in {part.strip()!r}; use ASC or DESC")
        out.append((words[0], way == "DESC"))
    return out
