"""What Pipedrive's answers mean, without sending anything: the errors a user must fix, the
one-line description of a failed response, the JSON envelope of a good one, the rate-limit
headers, and the 429 that means the day's budget is spent.

``crm_api.pipedrive`` (the one client, which sends every request) re-exports all of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import requests

from crm_api.governor import RequestBudget, TokenAllowance
from crm_api.retry import (
    MAX_RETRY_AFTER_SECONDS,
    UnrecoverableError,
    header_number,
    retry_after_seconds,
)
from crm_api.urls import shown


class PipedriveError(UnrecoverableError):
    """A problem the user must fix; ``str(error)`` is one line naming what to change.

    It is an ``UnrecoverableError``: a run (tap or target) meeting one stops with that line.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthError(PipedriveError):
    """Credentials were refused (bad token, bad client id/secret, revoked refresh token)."""


class UnexpectedBodyError(PipedriveError):
    """A 2xx whose body is not the API's JSON envelope (a proxy's page, a cut-short answer,
    ``data`` of the wrong type): never read as an empty list."""


class DailyBudgetSpentError(PipedriveError):
    """The company's daily API budget is spent (a 429 asking to wait hours): fatal for the
    run, never retried; every thread sharing the budget gets it at its next request."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=429)


class RunCapReachedError(DailyBudgetSpentError):
    """The run reached its own token cap (``max_tokens_per_run`` / ``daily_budget_share``):
    it ends as a spent daily budget does (every thread at once, a STATE covering only emitted
    records), but the next run may start at once and continues where this one stopped."""


# ----------------------------------------------------------------------------- errors

_HINTS = {
    400: "a request parameter was refused; check start_date and the other settings",
    401: "the credentials were refused; check api_token (or client_id, client_secret, "
    "refresh_token and oauth_token_file for OAuth)",
    402: "the Pipedrive company account is not open (trial ended or payment due)",
    403: "the token's user may not read this; use a token of a user with access "
    "(or an OAuth app with the matching scope), or deselect the stream",
    404: "not found; check api_url (it must be https://<company>.pipedrive.com or "
    "https://api.pipedrive.com)",
    410: "the endpoint is gone from the API",
    429: "rate limit reached (the daily token budget resets at midnight server time)",
}


def error_message(response: requests.Response, what: str = "") -> str:
    """One line describing a failed response, built only from the status and the API's error
    envelope (``error``, ``error_info``, ``code``): never headers, URLs with queries or tokens.
    """
    status = response.status_code
    detail = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        error = body.get("error") or body.get("message") or ""
        code = body.get("code") or body.get("error_code") or ""
        detail = str(error) if error else ""
        if code and str(code) not in detail:
            detail = f"{detail} [{code}]" if detail else f"[{code}]"
    elif response.content:
        kind = response.headers.get("Content-Type", "").split(";")[0] or "unknown"
        detail = f"non-JSON {kind} body" + (
            " (blocked by Cloudflare after ignored 429s?)" if status == 403 else ""
        )
    detail = " ".join(detail.split())[:300]
    prefix = f"{what}: " if what else ""
    path = urlparse(response.url).path if response.url else ""
    hint = _HINTS.get(status, "server error" if status >= 500 else "")
    parts = [f"{prefix}Pipedrive answered HTTP {status}"]
    if path:
        parts.append(f" for {path}")
    if detail:
        parts.append(f": {detail}")
    if hint:
        parts.append(f" ({hint})")
    return "".join(parts)


def daily_budget_message(headers: Mapping[str, str], what: str = "") -> str | None:
    """A clear line when a 429 means the day's token budget is spent (a long Retry-After),
    else None (a burst 429 is simply waited out)."""
    wait = retry_after_seconds(headers)
    if wait is None or wait <= MAX_RETRY_AFTER_SECONDS:
        return None
    prefix = f"{what}: " if what else ""
    return (
        f"{prefix}the Pipedrive company's daily API budget is spent (the API asks to wait "
        f"{wait / 3600:.1f} h, until its midnight); run again after that: the state so far "
        "is kept, nothing is lost"
    )


_JSON_KINDS = {
    dict: "an object",
    list: "a list",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def _json_kind(value: Any) -> str:
    for kind, name in _JSON_KINDS.items():
        if isinstance(value, kind):
            return name
    return "a number"  # Decimal with parse_float


def envelope(
    response: requests.Response,
    what: str = "",
    *,
    data: str | None = None,
    parse_float: Callable[[str], Any] | None = None,
    decode: Callable[[bytes], Any] | None = None,  # a faster JSON decoder (raises ValueError)
) -> dict[str, Any]:
    """The JSON envelope of a 2xx answer (``{"success": ..., "data": ...}``).

    ``data="list"`` (a list endpoint: a list, or null for v1's empty lists) or ``"object"``
    also checks ``data``'s type. Anything else (an HTML page, an empty or cut-short body, a
    JSON list, ``{}``) raises ``UnexpectedBodyError``: one line naming the endpoint and what
    was wrong, so it never reads as an empty list.
    """
    problem = ""
    body: Any = None
    if not response.content:
        problem = "an empty body"
    else:
        try:
            if decode is not None:
                body = decode(response.content)
            else:
                body = response.json(parse_float=parse_float) if parse_float else response.json()
        except ValueError as exc:
            kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if "html" in kind:
                problem = "an HTML page"
            elif "json" in kind:
                problem = f"JSON that does not parse, e.g. cut short ({str(exc)[:80]})"
            else:
                problem = f"a non-JSON {kind or 'untyped'} body"
    if not problem:
        if not isinstance(body, dict):
            problem = f"{_json_kind(body)} where a JSON object was expected"
        elif "data" not in body:
            problem = "a JSON object without 'data'"
        elif data == "list" and not isinstance(body["data"], list | None):
            problem = f"'data' is {_json_kind(body['data'])} where a list was expected"
        elif data == "object" and not isinstance(body["data"], dict):
            problem = f"'data' is {_json_kind(body['data'])} where an object was expected"
    if problem:
        prefix = f"{what}: " if what else ""
        path = urlparse(response.url).path if response.url else "the API"
        raise UnexpectedBodyError(
            f"{prefix}Pipedrive answered {path} with a body that is not its JSON envelope "
            f"({problem}); check api_url ({shown(response.url)}) and any proxy in between",
            status=response.status_code,
        )
    return body


# ----------------------------------------------------------------------------- rate limits


@dataclass(frozen=True)
class RateLimit:
    limit: int | None
    remaining: int | None
    reset_seconds: float | None


def rate_limit(headers: Mapping[str, str]) -> RateLimit:
    """The burst window as the server sees it (``x-ratelimit-limit/remaining/reset``)."""
    limit = header_number(headers.get("x-ratelimit-limit"))
    remaining = header_number(headers.get("x-ratelimit-remaining"))
    return RateLimit(
        limit=int(limit) if limit is not None else None,
        remaining=int(remaining) if remaining is not None else None,
        reset_seconds=header_number(headers.get("x-ratelimit-reset")),
    )


def observe_rate_limit(
    budget: RequestBudget, headers: Mapping[str, str], cap: int | None = None
) -> None:
    """Feed a response's rate-limit headers into the budget (``cap``: the user's own ceiling)."""
    seen = rate_limit(headers)
    limit = seen.limit
    if cap:
        limit = min(limit, cap) if limit else cap
    budget.observe(limit=limit, remaining=seen.remaining, reset_seconds=seen.reset_seconds)


CAP_SETTINGS = "max_tokens_per_run / daily_budget_share"


def cap_reached_message(allowance: TokenAllowance, cost: int) -> str:
    """The one line of a run stopped at its token cap."""
    return (
        f"stopped at this run's token cap ({CAP_SETTINGS}: {allowance.limit:,} tokens; "
        f"{allowance.spent:,} spent, the next request costs {cost}): the state so far is "
        "kept, run again to continue where this run stopped"
    )


def daily_tokens(headers: Mapping[str, str]) -> tuple[int | None, int | None]:
    """``x-daily-ratelimit-token-limit`` and ``-remaining`` (either may be missing)."""
    limit = header_number(headers.get("x-daily-ratelimit-token-limit"))
    remaining = header_number(headers.get("x-daily-ratelimit-token-remaining"))
    return (
        int(limit) if limit is not None else None,
        int(remaining) if remaining is not None else None,
    )
