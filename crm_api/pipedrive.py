"""Everything that knows how to talk to Pipedrive and is not Singer-specific.

Used by the tap (``tap_crm.pipedrive``) and the target (``target_crm.pipedrive``). The public,
stable surface is small:

* ``api_base(api_url)`` / ``oauth_base(api_url, oauth_url)``: where to send API and OAuth calls.
* ``make_auth(...)``: a ``requests`` auth object (``ApiTokenAuth`` or ``OAuthAuth``); OAuth
  refreshes early and on 401 and keeps a rotated refresh token in a ``crm_api.token_store`` store.
* ``connect(...)`` -> ``Connection``: base URL, auth, the shared ``RequestBudget`` and a
  ``session()`` factory of ``PipedriveSession`` objects (one per thread) that obey the budget,
  learn the rate limit from response headers, honour ``Retry-After`` and retry once after an
  OAuth refresh on 401.
* ``error_message(response)``: the API's error envelope (or a non-JSON body) as one clear line,
  never echoing secrets.
* ``observe_rate_limit(budget, headers)``: header -> budget (the retry policy and the
  ``Retry-After`` parser are ``crm_api.retry``).
* ``daily_budget_message(headers)``: a clear line when a 429 means the day's budget is spent
  (a Retry-After over ``MAX_RETRY_AFTER_SECONDS``), else None: such a 429 is not retried.
* ``endpoint_cost(method, path)``: the daily-budget token cost of one call.
* ``credential_problems(...)``: one clear line per unusable combination of auth settings.
* ``request_json(session, method, url, ...)`` / ``iter_v2(session, url, ...)``: one call, or
  every item of a v2 cursor list, outside the Singer SDK with the same retry rules.
* ``exchange_token``, ``authorization_url``: the OAuth pieces ``crm-oauth`` uses (the token
  store is ``crm_api.token_store``). Custom-field column names live in ``crm_api.pipedrive_fields``.

``PipedriveError`` (and its ``AuthError``) is raised for problems a user must fix; its message
is a single line that names the setting to change.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlparse

import requests
from requests.auth import AuthBase

from crm_api.governor import BudgetExhaustedError, RequestBudget, TokenAllowance
from crm_api.retry import (
    LOG_WAITS_OVER_SECONDS,
    MAX_RETRY_AFTER_SECONDS,
    RETRY_STATUSES,
    backoff_seconds,
    retry_after_seconds,
)
from crm_api.token_store import TokenStore, TokenStoreError, open_token_store
from crm_api.urls import UnsafeURLError, check_url, shown

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.pipedrive.com"
DEFAULT_OAUTH_URL = "https://oauth.pipedrive.com"
AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/token"
REVOKE_PATH = "/oauth/revoke"

# Pipedrive counts requests per token in a rolling 2-second window (research §7). Our window is
# a little longer than the server's so that clock skew and uneven network delays between our
# send and the server's count cannot push a burst over the limit.
BURST_WINDOW_SECONDS = 2.0
WINDOW_SAFETY_SECONDS = 0.1

# Refresh an OAuth access token this long before it expires (the SDK's authenticator has no
# margin, so a token can expire in flight).
REFRESH_MARGIN_SECONDS = 60.0


class PipedriveError(Exception):
    """A problem the user must fix; ``str(error)`` is one line naming what to change."""

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


# ----------------------------------------------------------------------------- URLs


def api_base(api_url: str | None) -> str:
    """The base URL that ``/api/v2/...`` and ``/v1/...`` paths are appended to."""
    return (api_url or DEFAULT_API_URL).rstrip("/")


def oauth_base(api_url: str | None, oauth_url: str | None = None) -> str:
    """Where ``/oauth/token`` lives.

    Pipedrive's OAuth server is ``oauth.pipedrive.com`` whatever the company domain; anything
    that is not a pipedrive.com host (e.g. a crm-sandbox URL) serves ``/oauth/*`` itself.
    """
    if oauth_url:
        return oauth_url.rstrip("/")
    if api_url:
        host = urlparse(api_url).hostname or ""
        if not (host == "pipedrive.com" or host.endswith(".pipedrive.com")):
            return api_url.rstrip("/")
    return DEFAULT_OAUTH_URL


def checked_url(url: str, setting: str = "api_url") -> str:
    """``url`` (no trailing slash) if a request may carry credentials there: https, or plain
    http to a loopback host only; else ``PipedriveError`` naming the setting and the host
    (never a password inside the URL)."""
    try:
        return check_url(url, setting, "Pipedrive")
    except UnsafeURLError as exc:
        raise PipedriveError(str(exc)) from None


def authorization_url(
    oauth_url: str, client_id: str, redirect_uri: str, state: str | None = None
) -> str:
    """The page where a user grants the app access (step 1 of the authorization-code flow)."""
    oauth_url = checked_url(oauth_url, "oauth_url")
    params = {"client_id": client_id, "redirect_uri": redirect_uri}
    if state:
        params["state"] = state
    return f"{oauth_url.rstrip('/')}{AUTHORIZE_PATH}?{urlencode(params)}"


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


# ----------------------------------------------------------------------------- rate limits


@dataclass(frozen=True)
class RateLimit:
    limit: int | None
    remaining: int | None
    reset_seconds: float | None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def rate_limit(headers: Mapping[str, str]) -> RateLimit:
    """The burst window as the server sees it (``x-ratelimit-limit/remaining/reset``)."""
    limit = _number(headers.get("x-ratelimit-limit"))
    remaining = _number(headers.get("x-ratelimit-remaining"))
    return RateLimit(
        limit=int(limit) if limit is not None else None,
        remaining=int(remaining) if remaining is not None else None,
        reset_seconds=_number(headers.get("x-ratelimit-reset")),
    )


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


def observe_rate_limit(
    budget: RequestBudget, headers: Mapping[str, str], cap: int | None = None
) -> None:
    """Feed a response's rate-limit headers into the budget (``cap``: the user's own ceiling)."""
    seen = rate_limit(headers)
    limit = seen.limit
    if cap:
        limit = min(limit, cap) if limit else cap
    budget.observe(limit=limit, remaining=seen.remaining, reset_seconds=seen.reset_seconds)


def new_budget(cap: int | None = None) -> RequestBudget:
    """A budget that starts at the user's cap (or unlimited) and adopts the server's limit
    from the first response; before any header, in-flight requests are bounded by callers."""
    return RequestBudget(cap or 0, BURST_WINDOW_SECONDS + WINDOW_SAFETY_SECONDS)


# Daily-budget token cost per call (research §7 and the endpoints' reference pages, as in
# docs/sandbox.md): (method, path pattern) -> tokens. First match wins: specific before generic.
_COSTS: list[tuple[str, re.Pattern[str], int]] = [
    ("GET", re.compile(r"/api/v2/deals/archived$"), 20),
    ("GET", re.compile(r"/api/v2/deals/(products|installments)$"), 10),
    ("GET", re.compile(r"/api/v2/deals/\d+/products$"), 10),
    ("GET", re.compile(r"/api/v2/\w+/\d+/followers/changelog$"), 10),
    ("GET", re.compile(r"/api/v2/\w+/\d+/followers$"), 10),
    ("GET", re.compile(r"/api/v2/(pipelines|stages)$"), 5),
    ("GET", re.compile(r"/api/v2/\w+/\d+$"), 1),
    ("GET", re.compile(r"/api/v2/\w+$"), 10),
    ("GET", re.compile(r"/(api/)?v1/deals/\d+/flow$"), 40),
    ("GET", re.compile(r"/(api/)?v1/deals/\d+/changelog$"), 20),
    ("GET", re.compile(r"/(api/)?v1/leadLabels$"), 10),
    ("GET", re.compile(r"/(api/)?v1/leadSources$"), 2),
    ("GET", re.compile(r"/(api/)?v1/users/me$"), 2),
    ("GET", re.compile(r"/(api/)?v1/leads/[0-9a-fA-F-]{36}$"), 2),
    ("GET", re.compile(r"/(api/)?v1/\w+/\d+$"), 2),
    ("GET", re.compile(r"/(api/)?v1/"), 20),
    ("POST", re.compile(r"/api/v2/\w+/\d+/followers$"), 5),
    ("POST", re.compile(r"/api/v2/"), 5),
    ("PATCH", re.compile(r"/api/v2/"), 5),
    ("DELETE", re.compile(r"/api/v2/"), 3),
    ("POST", re.compile(r"/(api/)?v1/"), 10),
    ("PUT", re.compile(r"/(api/)?v1/"), 10),
    ("DELETE", re.compile(r"/(api/)?v1/"), 6),
]


def endpoint_cost(method: str, path: str) -> int:
    """Tokens one call costs against the company's daily budget (0 when unknown)."""
    path = urlparse(path).path.rstrip("/")
    for verb, pattern, cost in _COSTS:
        if verb == method.upper() and pattern.search(path):
            return cost
    return 0


# ----------------------------------------------------------------------------- auth


class ApiTokenAuth(AuthBase):
    """API token in the ``x-api-token`` header (never in the query string)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["x-api-token"] = self._token
        return request

    def __repr__(self) -> str:
        return "ApiTokenAuth(<hidden>)"


def exchange_token(
    token_url: str,
    client_id: str,
    client_secret: str,
    form: Mapping[str, str],
    *,
    timeout: float = 60.0,
    tries: int = 4,
) -> dict[str, Any]:
    """POST to the OAuth token endpoint with HTTP Basic client auth (the documented way).

    Retries connection errors and 5xx; a 4xx is an ``AuthError`` whose message never contains
    the codes or tokens sent.
    """
    checked_url(token_url, "oauth_url")  # the client secret must not travel in clear
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
    headers = {
        "Authorization": f"Basic {basic}",
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    }
    last_problem = ""
    for attempt in range(tries):
        if attempt:
            time.sleep(min(2.0**attempt, 10.0))
        try:
            response = requests.post(token_url, data=dict(form), headers=headers, timeout=timeout)
        except requests.RequestException as exc:
            last_problem = f"{type(exc).__name__} while calling {shown(token_url)}"
            continue
        if response.status_code >= 500:
            last_problem = f"HTTP {response.status_code}"
            continue
        if response.status_code >= 400:
            grant = form.get("grant_type", "")
            raise AuthError(
                f"Pipedrive refused the OAuth {grant} request "
                f"({_oauth_error(response)}); check client_id and client_secret, and if "
                "the refresh token was revoked or expired run `crm-oauth` again",
                status=response.status_code,
            )
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict) or not data.get("access_token"):
            raise AuthError("the OAuth token endpoint answered without an access_token")
        return data
    raise PipedriveError(f"the OAuth token endpoint could not be reached ({last_problem})")


def _oauth_error(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, Mapping):
        error = body.get("error") or body.get("message")
        if isinstance(error, str) and len(error) < 80:
            return f"HTTP {response.status_code} {error}"
    return f"HTTP {response.status_code}"


class OAuthAuth(AuthBase):
    """Bearer access tokens from a refresh token, refreshed early and on demand.

    Thread-safe. Why not the SDK's ``OAuthAuthenticator``: in singer-sdk 0.54 it refreshes only
    after expiry, drops a rotated refresh token, and is Singer-only while the target needs the
    same auth. A rotated refresh token is saved to ``store`` before it is used.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str | None,
        store: TokenStore | None = None,
        *,
        clock: Callable[[], float] = time.time,
        on_rotate: Callable[[], None] | None = None,
    ) -> None:
        self.token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._store = store
        stored = _load(store) if store else None
        # The file wins: it holds the newest token, rotated by an earlier run.
        self._refresh_token = stored or refresh_token
        if not self._refresh_token:
            raise AuthError(
                "OAuth needs a refresh token: set refresh_token, or run `crm-oauth` to "
                "create oauth_token_file"
            )
        self._clock = clock
        self._on_rotate = on_rotate
        self._lock = threading.Lock()
        self._access_token: str | None = None
        self._expires_at = 0.0
        self.api_domain: str | None = None
        self.refresh_count = 0

    def __repr__(self) -> str:
        return "OAuthAuth(<hidden>)"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.access_token()}"
        return request

    def access_token(self) -> str:
        with self._lock:
            if self._access_token is None or self._clock() >= self._expires_at:
                self._refresh()
            assert self._access_token is not None
            return self._access_token

    def refresh_after_401(self, rejected_header: str | None) -> None:
        """Refresh unless another thread already replaced the rejected token."""
        with self._lock:
            if rejected_header == f"Bearer {self._access_token}" or self._access_token is None:
                self._refresh()

    def _refresh(self) -> None:
        with self._store.locked() if self._store else contextlib.nullcontext():
            if self._store:
                stored = _load(self._store)
                if stored:
                    self._refresh_token = stored  # another process may have rotated it
            assert self._refresh_token is not None
            data = exchange_token(
                self.token_url,
                self._client_id,
                self._client_secret,
                {"grant_type": "refresh_token", "refresh_token": self._refresh_token},
            )
            new_refresh = data.get("refresh_token")
            if isinstance(new_refresh, str) and new_refresh and new_refresh != self._refresh_token:
                self._refresh_token = new_refresh
                if self._store:
                    self._store.save(new_refresh)
                if self._on_rotate:
                    self._on_rotate()
        self._access_token = str(data["access_token"])
        try:
            lifetime = float(data.get("expires_in") or 3600)
        except (TypeError, ValueError):
            lifetime = 3600.0
        margin = min(REFRESH_MARGIN_SECONDS, lifetime / 10)
        self._expires_at = self._clock() + lifetime - margin
        domain = data.get("api_domain")
        self.api_domain = domain.rstrip("/") if isinstance(domain, str) and domain else None
        self.refresh_count += 1


def _load(store: TokenStore) -> str | None:
    """The stored refresh token; an unreadable store is the user's to fix: one line."""
    try:
        return store.load()
    except TokenStoreError as exc:
        raise PipedriveError(str(exc)) from None


def credential_problems(
    *,
    api_token: str | None,
    client_id: str | None,
    client_secret: str | None,
    refresh_token: str | None,
    oauth_token_file: str | None,
) -> list[str]:
    """One line per unusable combination of auth settings (empty list: usable or absent)."""
    oauth_parts = {
        "client_id": client_id,
        "client_secret": client_secret,
    }
    has_oauth = any(oauth_parts.values()) or refresh_token
    if api_token and has_oauth:
        return [
            "Set either api_token or the OAuth settings (client_id, client_secret, "
            "refresh_token / oauth_token_file), not both"
        ]
    if not has_oauth:
        return []
    problems = [
        f"OAuth needs {name}: set it (from your Pipedrive app's OAuth settings)"
        for name, value in oauth_parts.items()
        if not value
    ]
    if not oauth_token_file:
        problems.append(
            "OAuth needs oauth_token_file: a path where the tap keeps the refresh token that "
            "Pipedrive rotates (crm-oauth creates it)"
        )
    elif not refresh_token and _load(open_token_store(oauth_token_file)) is None:
        problems.append(
            f"OAuth needs a refresh token: set refresh_token, or run `crm-oauth` to write "
            f"one to {oauth_token_file}"
        )
    return problems


def make_auth(
    *,
    api_url: str | None = None,
    api_token: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    refresh_token: str | None = None,
    oauth_token_file: str | None = None,
    oauth_url: str | None = None,
) -> ApiTokenAuth | OAuthAuth:
    """The auth object for these settings; raises ``PipedriveError`` when they do not fit."""
    problems = credential_problems(
        api_token=api_token,
        client_id=client_id,
        client_secret=client_secret,
        refresh_token=refresh_token,
        oauth_token_file=oauth_token_file,
    )
    if problems:
        raise PipedriveError(problems[0])
    if api_url:
        checked_url(api_url)
    if api_token:
        return ApiTokenAuth(api_token)
    if client_id and client_secret:
        store = open_token_store(oauth_token_file) if oauth_token_file else None
        return OAuthAuth(
            checked_url(oauth_base(api_url, oauth_url), "oauth_url") + TOKEN_PATH,
            client_id,
            client_secret,
            refresh_token,
            store,
        )
    raise PipedriveError(
        "No Pipedrive credentials: set api_token (Settings > Personal preferences > API), "
        "or client_id, client_secret and refresh_token/oauth_token_file for OAuth"
    )


# ----------------------------------------------------------------------------- session


class PipedriveSession(requests.Session):
    """A ``requests.Session`` that obeys a shared ``RequestBudget``.

    Every attempt (including the SDK's retries) waits for the budget, then feeds the
    response's rate-limit headers back into it. A 429 holds *every* sender for Retry-After
    (or ``x-ratelimit-reset``). With ``OAuthAuth``, a 401 triggers one refresh and resend.
    Not shared between threads: make one per thread from ``Connection.session()``.
    """

    def __init__(
        self,
        budget: RequestBudget,
        auth: ApiTokenAuth | OAuthAuth | None = None,
        cap: int | None = None,
        allowance: TokenAllowance | None = None,
    ) -> None:
        super().__init__()
        self.budget = budget
        self.auth = auth
        self._cap = cap
        self.allowance = allowance
        self.headers["Accept"] = "application/json"

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = self._send_once(request, **kwargs)
        if response.status_code == 401 and isinstance(self.auth, OAuthAuth):
            self.auth.refresh_after_401(request.headers.get("Authorization"))
            retry = request.copy()
            self.auth(retry)
            response.close()
            response = self._send_once(retry, **kwargs)
        return response

    def _send_once(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        checked_url(request.url or "", "api_url")  # whoever built the URL: no token in clear
        allowance = self.allowance
        cost = endpoint_cost(request.method or "GET", request.path_url)
        try:
            self.budget.acquire()
            if allowance is not None and not allowance.take(cost):
                # The next request would pass the run's cap: end every thread's wait now,
                # exactly as a spent daily budget does, with the line that says why.
                allowance.reach(cap_reached_message(allowance, cost))
                self.budget.exhaust(allowance.reached or "")
                self.budget.acquire()  # raises, with the first thread's message
        except BudgetExhaustedError as exc:  # the daily budget or the run's cap is spent
            if allowance is not None and allowance.reached:
                raise RunCapReachedError(str(exc)) from None
            raise DailyBudgetSpentError(str(exc)) from None
        response = super().send(request, **kwargs)
        observe_rate_limit(self.budget, response.headers, self._cap)
        if allowance is not None:
            day = daily_tokens(response.headers)
            allowance.observe_day(day[0], day[1])
        if response.status_code == 429:
            spent = daily_budget_message(response.headers)
            if spent:
                # Holding the budget for hours would put every other thread to sleep in it:
                # end everyone's wait now, with the one line that says why.
                self.budget.exhaust(spent)
                response.close()
                raise DailyBudgetSpentError(spent)
            wait = retry_after_seconds(response.headers)
            if wait is None:
                wait = rate_limit(response.headers).reset_seconds or BURST_WINDOW_SECONDS
            if wait > LOG_WAITS_OVER_SECONDS:
                logger.warning(
                    "Pipedrive's rate limit answered 429 for %s: every request waits %.0f s "
                    "(Retry-After)",
                    urlparse(request.url or "").path,
                    wait,
                )
            self.budget.hold(wait)
        return response


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
    limit = _number(headers.get("x-daily-ratelimit-token-limit"))
    remaining = _number(headers.get("x-daily-ratelimit-token-remaining"))
    return (
        int(limit) if limit is not None else None,
        int(remaining) if remaining is not None else None,
    )


@dataclass
class Connection:
    """One Pipedrive account as seen from this process: where, who, and how fast."""

    base_url: str
    auth: ApiTokenAuth | OAuthAuth
    budget: RequestBudget
    cap: int | None = None
    allowance: TokenAllowance | None = None

    def session(self) -> PipedriveSession:
        return PipedriveSession(self.budget, self.auth, self.cap, self.allowance)

    def url(self, path: str) -> str:
        return self.base_url + path


_BUDGETS: dict[str, RequestBudget] = {}
_BUDGETS_LOCK = threading.Lock()


def shared_budget(base_url: str, identity: str, cap: int | None = None) -> RequestBudget:
    """The one budget of a (server, token) pair in this process, so that the tap's streams
    and any other user of the same token in-process never exceed the limit together."""
    key = hashlib.sha256(f"{base_url}\0{identity}".encode()).hexdigest()
    with _BUDGETS_LOCK:
        budget = _BUDGETS.get(key)
        # A budget exhausted by an earlier run in this process (tests, a notebook) is not
        # this run's: the day may have turned since; the server will say again if not.
        if budget is None or budget.exhausted is not None:
            budget = _BUDGETS[key] = new_budget(cap)
        return budget


def connect(
    *,
    api_url: str | None = None,
    api_token: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    refresh_token: str | None = None,
    oauth_token_file: str | None = None,
    oauth_url: str | None = None,
    max_requests_per_window: int | None = None,
    max_tokens_per_run: int | None = None,
    daily_budget_share: float | None = None,
) -> Connection:
    """Everything needed to call the API; raises ``PipedriveError`` on unusable settings.

    With OAuth and no ``api_url``, the first token refresh tells the company's ``api_domain``.
    The connection counts the tokens its sessions spend (``allowance``); with
    ``max_tokens_per_run`` or ``daily_budget_share`` a request that would pass that cap raises
    ``RunCapReachedError`` instead of being sent.
    """
    auth = make_auth(
        api_url=api_url,
        api_token=api_token,
        client_id=client_id,
        client_secret=client_secret,
        refresh_token=refresh_token,
        oauth_token_file=oauth_token_file,
        oauth_url=oauth_url,
    )
    base = checked_url(api_base(api_url))
    if isinstance(auth, OAuthAuth) and not api_url:
        auth.access_token()
        base = checked_url(api_base(auth.api_domain), "api_domain (from the OAuth server)")
    identity = api_token or f"oauth:{client_id}"
    budget = shared_budget(base, identity, max_requests_per_window)
    allowance = TokenAllowance(max_tokens_per_run, daily_budget_share)
    return Connection(base, auth, budget, max_requests_per_window, allowance)


# ----------------------------------------------------------------------------- plain calls


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


def request_json(
    session: requests.Session,
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    json_body: Any = None,
    tries: int = 10,
    timeout: float = 120.0,
    what: str = "",
    data: str | None = None,
    log: Callable[[str], None] | None = None,
) -> Any:
    """One API call outside the Singer SDK, with the tap's retry rules: 429 waits (the
    ``PipedriveSession`` holds the budget for Retry-After), 5xx and dropped connections back
    off exponentially, any other 4xx raises ``PipedriveError`` (``AuthError`` for 401), a
    2xx that is not the JSON envelope raises ``UnexpectedBodyError`` (``data``: see
    ``envelope``). ``tries`` and ``timeout`` are the user's ``max_request_tries`` and
    ``request_timeout``; ``log`` gets a line for every wait over a few seconds."""
    problem = ""
    tries = max(1, int(tries))
    prefix = f"{what}: " if what else ""
    for attempt in range(tries):
        if attempt:
            wait = backoff_seconds(attempt)
            if log is not None and wait > LOG_WAITS_OVER_SECONDS:
                log(f"{problem}; retrying in {wait:.0f} s (try {attempt + 1} of {tries})")
            time.sleep(wait)
        try:
            response = session.request(method, url, params=params, json=json_body, timeout=timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            problem = f"{prefix}{type(exc).__name__} talking to Pipedrive at {shown(url)}"
            continue
        if response.status_code in RETRY_STATUSES:
            spent = daily_budget_message(response.headers, what)
            if spent:  # a plain requests.Session (a PipedriveSession raised already)
                raise DailyBudgetSpentError(spent)
            problem = error_message(response, what)
            continue
        if response.status_code >= 400:
            error = AuthError if response.status_code == 401 else PipedriveError
            raise error(error_message(response, what), status=response.status_code)
        return envelope(response, what, data=data)
    raise PipedriveError(f"{problem} (gave up after {tries} tries; see max_request_tries)")


def iter_v2(
    session: requests.Session,
    url: str,
    params: Mapping[str, Any] | None = None,
    *,
    page_size: int = 500,
    what: str = "",
    tries: int = 10,
    timeout: float = 120.0,
    log: Callable[[str], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Every item of a v2 cursor-paginated list (calls as ``request_json``)."""
    query = dict(params or {})
    query["limit"] = page_size
    while True:
        body = request_json(
            session,
            "GET",
            url,
            params=query,
            what=what,
            data="list",
            tries=tries,
            timeout=timeout,
            log=log,
        )
        yield from body.get("data") or []
        extra = body.get("additional_data")
        cursor = extra.get("next_cursor") if isinstance(extra, dict) else None
        if not cursor:
            return
        query["cursor"] = cursor
