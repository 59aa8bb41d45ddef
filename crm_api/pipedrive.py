"""The one Pipedrive client: the only code in crm_api, tap_crm and target_crm that sends HTTP
to Pipedrive (the tap's Singer SDK hooks send through its sessions and call its pieces).

Used by the tap (``tap_crm.pipedrive``) and the target (``target_crm.pipedrive``). The public,
stable surface:

* ``connect(...)`` -> ``Connection``: base URL, auth, the shared ``RequestBudget``, the user's
  ``RetryPolicy`` and a ``session()`` factory of ``PipedriveSession`` objects (one per thread)
  that obey the budget, learn the rate limit from response headers, hold every sender for a
  429's ``Retry-After``, refresh OAuth once on a 401 and refuse URLs that would leak a secret.
* ``PipedriveClient(connection)`` (or ``PipedriveClient.from_config(config)``): ``send`` (the
  one send-with-retry loop; 2xx and 4xx verdicts come back as a ``Response``), ``get_json``
  (send + ``envelope``), ``iter_v2`` (the one v2 cursor paging loop), ``iter_v1`` (the one v1
  offset paging loop), ``next_cursor(body)`` (for the tap's SDK paginator).
* ``request_json(session, ...)`` / ``iter_v2(session, url, ...)``: the same loop for a session
  the caller holds (the tap's discovery and parent listings).
* ``exchange_token``, ``authorization_url``: the OAuth pieces ``crm-oauth`` uses (the token
  store is ``crm_api.token_store``), retried by the same policy.
* ``make_auth``, ``credential_problems``, ``api_base``/``oauth_base``/``checked_url``,
  ``observe_rate_limit``, ``shared_budget``.

What the answers mean lives next door and is re-exported here: ``crm_api.pipedrive_answers``
(``PipedriveError`` and its kinds, ``error_message``, ``envelope``, ``daily_budget_message``)
and ``crm_api.pipedrive_costs`` (``endpoint_cost``). The retry numbers and the ``Retry-After``
parser are ``crm_api.retry``. Custom-field column names live in ``crm_api.pipedrive_fields``.

What a request's failure is, in one place (``_send_with_retry`` and ``PipedriveClient.send``):

* 429: waited out through the shared budget's hold, never counted as a try; a 429 asking to
  wait hours is ``DailyBudgetSpentError`` (the run's own token cap: ``RunCapReachedError``);
* 5xx and dropped connections: retried up to ``max_request_tries`` when replay-safe (reads,
  PUT/PATCH), else ``OutcomeUnknownError`` (a create may have been applied: look first);
* 401 (after one OAuth refresh) ``AuthError``, 402/403 ``PipedriveError``: one line naming the
  setting to change; other 4xx: the caller's verdict (``send``) or ``PipedriveError``
  (``get_json``, the iterators).

``PipedriveError`` is a ``crm_api.retry.UnrecoverableError``: a run meeting one stops with its
single line.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from crm_api.governor import BudgetExhaustedError, RequestBudget, TokenAllowance
from crm_api.pipedrive_answers import (
    CAP_SETTINGS,
    AuthError,
    DailyBudgetSpentError,
    PipedriveError,
    RateLimit,
    RunCapReachedError,
    UnexpectedBodyError,
    cap_reached_message,
    daily_budget_message,
    daily_tokens,
    envelope,
    error_message,
    observe_rate_limit,
    rate_limit,
)
from crm_api.pipedrive_costs import endpoint_cost
from crm_api.pipedrive_urls import (
    AUTHORIZE_PATH,
    DEFAULT_API_URL,
    DEFAULT_OAUTH_URL,
    REVOKE_PATH,
    TOKEN_PATH,
    api_base,
    authorization_url,
    checked_url,
    oauth_base,
)
from crm_api.retry import (
    LOG_WAITS_OVER_SECONDS,
    RETRY_STATUSES,
    OutcomeUnknownError,
    RetryPolicy,
    retry_after_seconds,
    settle_seconds,
)
from crm_api.token_store import TokenStore, TokenStoreError, open_token_store
from crm_api.urls import shown

# The public names, those defined next door included (mypy's strict re-export rule).
__all__ = [
    "AUTHORIZE_PATH",
    "BURST_WINDOW_SECONDS",
    "CAP_SETTINGS",
    "DEFAULT_API_URL",
    "DEFAULT_OAUTH_URL",
    "MAX_RATE_LIMIT_WAITS",
    "REFRESH_MARGIN_SECONDS",
    "REPLAY_SAFE_METHODS",
    "REVOKE_PATH",
    "TOKEN_PATH",
    "WINDOW_SAFETY_SECONDS",
    "ApiTokenAuth",
    "AuthError",
    "Connection",
    "DailyBudgetSpentError",
    "OAuthAuth",
    "OutcomeUnknownError",
    "PipedriveClient",
    "PipedriveError",
    "PipedriveSession",
    "RateLimit",
    "RetryPolicy",
    "RunCapReachedError",
    "UnexpectedBodyError",
    "api_base",
    "authorization_url",
    "cap_reached_message",
    "checked_url",
    "connect",
    "connect_from_config",
    "credential_problems",
    "daily_budget_message",
    "daily_tokens",
    "endpoint_cost",
    "envelope",
    "error_message",
    "exchange_token",
    "iter_v2",
    "make_auth",
    "new_budget",
    "next_cursor",
    "next_start",
    "oauth_base",
    "observe_rate_limit",
    "rate_limit",
    "request_json",
    "shared_budget",
]

logger = logging.getLogger(__name__)


# Pipedrive counts requests per token in a rolling 2-second window (research §7). Our window is
# a little longer than the server's so that clock skew and uneven network delays between our
# send and the server's count cannot push a burst over the limit.
BURST_WINDOW_SECONDS = 2.0
WINDOW_SAFETY_SECONDS = 0.1

# Refresh an OAuth access token this long before it expires (the SDK's authenticator has no
# margin, so a token can expire in flight).
REFRESH_MARGIN_SECONDS = 60.0


# ----------------------------------------------------------------------------- budget


def new_budget(cap: int | None = None) -> RequestBudget:
    """A budget that starts at the user's cap (or unlimited) and adopts the server's limit
    from the first response; before any header, in-flight requests are bounded by callers."""
    return RequestBudget(cap or 0, BURST_WINDOW_SECONDS + WINDOW_SAFETY_SECONDS)


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
    policy: RetryPolicy | None = None,
) -> dict[str, Any]:
    """POST to the OAuth token endpoint with HTTP Basic client auth (the documented way).

    Sent by the one send-with-retry loop (``policy``: the user's tries and timeout): dropped
    connections, 429 and 5xx are retried (a token request is safe to resend: at worst the
    server rotates twice); a 4xx is an ``AuthError`` whose message never contains the codes
    or tokens sent.
    """
    checked_url(token_url, "oauth_url")  # the client secret must not travel in clear
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
    headers = {
        "Authorization": f"Basic {basic}",
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    }
    grant = form.get("grant_type", "")
    with requests.Session() as session:
        response = _send_with_retry(
            session,
            "POST",
            token_url,
            data=dict(form),
            headers=headers,
            policy=policy or RetryPolicy(),
            replay_safe=True,  # at worst the server answers twice; the newest token wins
            what="the OAuth token endpoint",
        )
    if response.status_code >= 400:
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
        policy: RetryPolicy | None = None,
    ) -> None:
        self.token_url = token_url
        self._policy = policy or RetryPolicy()
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
        # A store that fails mid-refresh (a database gone away) is one line, like one that
        # fails to load: the user fixes oauth_token_file, not our code.
        try:
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
                    policy=self._policy,
                )
                new_refresh = data.get("refresh_token")
                rotated = isinstance(new_refresh, str) and new_refresh != self._refresh_token
                if rotated and new_refresh:
                    self._refresh_token = new_refresh
                    if self._store:
                        self._store.save(new_refresh)
                    if self._on_rotate:
                        self._on_rotate()
        except TokenStoreError as exc:
            raise PipedriveError(str(exc)) from None
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
    elif (
        not refresh_token and _load(open_token_store(oauth_token_file, client_id=client_id)) is None
    ):
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
    policy: RetryPolicy | None = None,
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
        store = (
            open_token_store(oauth_token_file, client_id=client_id) if oauth_token_file else None
        )
        return OAuthAuth(
            checked_url(oauth_base(api_url, oauth_url), "oauth_url") + TOKEN_PATH,
            client_id,
            client_secret,
            refresh_token,
            store,
            policy=policy,
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


@dataclass
class Connection:
    """One Pipedrive account as seen from this process: where, who, and how fast."""

    base_url: str
    auth: ApiTokenAuth | OAuthAuth
    budget: RequestBudget
    cap: int | None = None
    allowance: TokenAllowance | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)  # the user's tries and timeout

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
    policy: RetryPolicy | None = None,
) -> Connection:
    """Everything needed to call the API; raises ``PipedriveError`` on unusable settings.

    With OAuth and no ``api_url``, the first token refresh tells the company's ``api_domain``.
    The connection counts the tokens its sessions spend (``allowance``); with
    ``max_tokens_per_run`` or ``daily_budget_share`` a request that would pass that cap raises
    ``RunCapReachedError`` instead of being sent. ``policy``: the user's ``max_request_tries``
    and ``request_timeout`` (``RetryPolicy.from_config``), for every request including OAuth.
    """
    policy = policy or RetryPolicy()
    auth = make_auth(
        api_url=api_url,
        api_token=api_token,
        client_id=client_id,
        client_secret=client_secret,
        refresh_token=refresh_token,
        oauth_token_file=oauth_token_file,
        oauth_url=oauth_url,
        policy=policy,
    )
    base = checked_url(api_base(api_url))
    if isinstance(auth, OAuthAuth) and not api_url:
        auth.access_token()
        base = checked_url(api_base(auth.api_domain), "api_domain (from the OAuth server)")
    identity = api_token or f"oauth:{client_id}"
    budget = shared_budget(base, identity, max_requests_per_window)
    allowance = TokenAllowance(max_tokens_per_run, daily_budget_share)
    return Connection(base, auth, budget, max_requests_per_window, allowance, policy)


def connect_from_config(config: Mapping[str, Any]) -> Connection:
    """``connect`` with the settings tap and target both read, under the same names."""
    return connect(
        api_url=config.get("api_url"),
        api_token=config.get("api_token"),
        client_id=config.get("client_id"),
        client_secret=config.get("client_secret"),
        refresh_token=config.get("refresh_token"),
        oauth_token_file=config.get("oauth_token_file"),
        oauth_url=config.get("oauth_url"),
        max_requests_per_window=config.get("max_requests_per_2s"),
        max_tokens_per_run=config.get("max_tokens_per_run"),
        daily_budget_share=config.get("daily_budget_share"),
        policy=RetryPolicy.from_config(config),
    )


# ----------------------------------------------------------------------------- sending

# 429s are waited out through the shared budget and are not tries; past this many in a row
# something is wrong (a proxy answering 429 forever) and the run says so.
MAX_RATE_LIMIT_WAITS = 50

# Methods whose resend cannot apply a change twice; a POST (a create) is never blindly resent.
REPLAY_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})


def _send_with_retry(
    session: requests.Session,
    method: str,
    url: str,
    *,
    policy: RetryPolicy,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    data: Any = None,
    headers: Mapping[str, str] | None = None,
    replay_safe: bool | None = None,
    what: str = "",
    log: Callable[[str], None] | None = None,
) -> requests.Response:
    """The one send-with-retry loop of every Pipedrive request (API and OAuth).

    Returns the first answer that is not worth another try (2xx, 3xx, 4xx other than 429).
    Each try waits at most ``policy.timeout``; 5xx and dropped connections are tried up to
    ``policy.tries`` times in all when ``replay_safe`` (default: by method), else raise
    ``OutcomeUnknownError`` at once. A 429 is waited out (a ``PipedriveSession`` holds every
    sender of the budget for its Retry-After; any other session waits here), unless it means
    the day's budget is spent: ``DailyBudgetSpentError``. ``log`` gets a line for every
    backoff over a few seconds.
    """
    if replay_safe is None:
        replay_safe = method.upper() in REPLAY_SAFE_METHODS
    prefix = f"{what}: " if what else ""
    where = what or f"{method} {urlparse(url).path}"
    tries = 0
    rate_limited = 0
    while True:
        try:
            response = session.request(
                method,
                url,
                params=params,
                json=json,
                data=data,
                headers=headers,
                timeout=policy.timeout,
                allow_redirects=False,  # a redirect must not carry the token to another host
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            kind = type(exc).__name__
            if not replay_safe:
                timed_out = isinstance(exc, requests.Timeout)
                raise OutcomeUnknownError(
                    f"{where}: no answer ({kind})",
                    settle_seconds(policy.timeout) if timed_out else 0.0,
                ) from None
            problem = f"{prefix}{kind} talking to Pipedrive at {shown(url)}"
        else:
            status = response.status_code
            if status == 429:
                spent = daily_budget_message(response.headers, what)
                if spent:  # a plain session (a PipedriveSession raised it already)
                    raise DailyBudgetSpentError(spent)
                rate_limited += 1
                if rate_limited > MAX_RATE_LIMIT_WAITS:
                    raise PipedriveError(
                        f"{error_message(response, what)}: still rate limited after "
                        f"{MAX_RATE_LIMIT_WAITS} waits",
                        status=429,
                    )
                if not isinstance(session, PipedriveSession):
                    wait = retry_after_seconds(response.headers)
                    time.sleep(BURST_WINDOW_SECONDS if wait is None else wait)
                continue  # never applied, so safe to resend whatever the method
            if status not in RETRY_STATUSES:
                return response
            if not replay_safe:
                raise OutcomeUnknownError(f"{where}: HTTP {status}")
            problem = error_message(response, what)
        tries += 1
        if tries >= policy.tries:
            raise PipedriveError(policy.gave_up(problem))
        wait = policy.wait(tries)
        if log is not None and wait > LOG_WAITS_OVER_SECONDS:
            log(f"{problem}; retrying in {wait:.0f} s (try {tries + 1} of {policy.tries})")
        time.sleep(wait)


def _refuse_account_errors(response: requests.Response, what: str = "") -> None:
    """401/402/403 end every run the same way: one line naming the setting to change (a 401
    reaches here only after the OAuth refresh and resend of ``PipedriveSession``)."""
    status = response.status_code
    if status in (401, 402, 403):
        error = AuthError if status == 401 else PipedriveError
        raise error(error_message(response, what), status=status)


def _read(
    response: requests.Response, what: str, data: str | None, missing_ok: bool
) -> dict[str, Any] | None:
    """The envelope of an answer whose every non-2xx is the caller's error."""
    status = response.status_code
    if missing_ok and status in (404, 410):
        return None
    if status >= 300:
        error = AuthError if status == 401 else PipedriveError
        raise error(error_message(response, what), status=status)
    return envelope(response, what, data=data)


def next_cursor(body: Mapping[str, Any]) -> str | None:
    """The v2 cursor of the page after ``body`` (None on the last page)."""
    extra = body.get("additional_data")
    cursor = extra.get("next_cursor") if isinstance(extra, Mapping) else None
    return str(cursor) if cursor else None


def next_start(body: Mapping[str, Any]) -> int | None:
    """The v1 offset of the page after ``body`` (None on the last page)."""
    extra = body.get("additional_data")
    pages = extra.get("pagination") if isinstance(extra, Mapping) else None
    if not isinstance(pages, Mapping) or not pages.get("more_items_in_collection"):
        return None
    start = pages.get("next_start")
    return int(start) if start is not None else None


def _pages_v2(
    get: Callable[[dict[str, Any]], dict[str, Any] | None],
    params: Mapping[str, Any] | None,
    page_size: int,
) -> Iterator[dict[str, Any]]:
    """The one v2 cursor paging loop: every item, page after page, until no next_cursor."""
    query = {**(params or {}), "limit": page_size}
    while True:
        body = get(query)
        if body is None:
            return
        yield from body.get("data") or []
        cursor = next_cursor(body)
        if not cursor:
            return
        query["cursor"] = cursor


def _pages_v1(
    get: Callable[[dict[str, Any]], dict[str, Any] | None],
    params: Mapping[str, Any] | None,
    page_size: int,
) -> Iterator[dict[str, Any]]:
    """The one v1 offset paging loop: every item until more_items_in_collection is false."""
    query = {**(params or {}), "start": 0, "limit": page_size}
    while True:
        body = get(query)
        if body is None:
            return
        items = body.get("data") or []
        yield from items
        start = next_start(body)
        if start is None:
            return
        query["start"] = max(start, int(query["start"]) + 1)  # a server never moving back


class PipedriveClient:
    """The one way this project talks to a Pipedrive account: a ``Connection`` (auth, the
    shared budget, the user's retry policy) and one ``PipedriveSession`` per thread.

    Paths are appended to the connection's base URL (``/api/v2/deals``); full URLs are
    accepted as they are (the session checks every URL before a secret travels).
    """

    def __init__(
        self,
        connection: Connection,
        *,
        pool_size: int = 8,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.connection = connection
        self.policy = connection.policy
        self._pool_size = pool_size
        self._log = log
        self._local = threading.local()

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        *,
        pool_size: int = 8,
        log: Callable[[str], None] | None = None,
    ) -> PipedriveClient:
        return cls(connect_from_config(config), pool_size=pool_size, log=log)

    def session(self) -> PipedriveSession:
        """This thread's session (a session is not safe to share between threads)."""
        session: PipedriveSession | None = getattr(self._local, "session", None)
        if session is None:
            session = self.connection.session()
            adapter = HTTPAdapter(pool_connections=2, pool_maxsize=self._pool_size)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return session

    def url(self, path: str) -> str:
        return path if "://" in path else self.connection.url(path)

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        replay_safe: bool | None = None,
        what: str = "",
    ) -> requests.Response:
        """One request through the retry loop. Returns 2xx and the API's 4xx verdicts on a
        record (400, 404, 409, 422 ...) for the caller to read; raises ``PipedriveError`` for
        401/402/403, a spent budget or a failure on every try, ``OutcomeUnknownError`` when a
        request that is not replay-safe (a POST, unless told) got no answer or a 5xx."""
        response = _send_with_retry(
            self.session(),
            method,
            self.url(path),
            policy=self.policy,
            params=params,
            json=json,
            replay_safe=replay_safe,
            what=what,
            log=self._log,
        )
        _refuse_account_errors(response, what)
        return response

    def get_json(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        what: str = "",
        data: str | None = None,
        missing_ok: bool = False,
    ) -> Any:
        """GET and the answer's JSON envelope (``data``: "list" or "object" checks its type);
        any 4xx is a ``PipedriveError`` (``missing_ok``: None for 404/410 instead)."""
        return _read(self.send("GET", path, params=params, what=what), what, data, missing_ok)

    def iter_v2(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        page_size: int = 500,
        what: str = "",
        missing_ok: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Every item of a v2 cursor-paginated list."""
        return _pages_v2(
            lambda query: self.get_json(path, query, what=what, data="list", missing_ok=missing_ok),
            params,
            page_size,
        )

    def iter_v1(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        page_size: int = 500,
        what: str = "",
        missing_ok: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Every item of a v1 offset-paginated list."""
        return _pages_v1(
            lambda query: self.get_json(path, query, what=what, data="list", missing_ok=missing_ok),
            params,
            page_size,
        )


# ------------------------------------------------------------- a session the caller holds


def request_json(
    session: requests.Session,
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    json_body: Any = None,
    tries: int | None = None,
    timeout: float | None = None,
    policy: RetryPolicy | None = None,
    what: str = "",
    data: str | None = None,
    log: Callable[[str], None] | None = None,
) -> Any:
    """One call through the client's retry loop on a session the caller holds (the tap's
    discovery and parent listings): a 2xx's envelope (``data``: see ``envelope``); any 4xx
    raises ``PipedriveError`` (``AuthError`` for 401). ``policy`` (or ``tries``/``timeout``,
    the user's ``max_request_tries``/``request_timeout``) sets tries and timeout."""
    policy = _policy(policy, tries, timeout)
    response = _send_with_retry(
        session,
        method,
        url,
        policy=policy,
        params=params,
        json=json_body,
        what=what,
        log=log,
    )
    return _read(response, what, data, missing_ok=False)


def iter_v2(
    session: requests.Session,
    url: str,
    params: Mapping[str, Any] | None = None,
    *,
    page_size: int = 500,
    what: str = "",
    tries: int | None = None,
    timeout: float | None = None,
    policy: RetryPolicy | None = None,
    log: Callable[[str], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Every item of a v2 cursor-paginated list (calls as ``request_json``)."""
    policy = _policy(policy, tries, timeout)
    return _pages_v2(
        lambda query: request_json(
            session, "GET", url, params=query, policy=policy, what=what, data="list", log=log
        ),
        params,
        page_size,
    )


def _policy(policy: RetryPolicy | None, tries: int | None, timeout: float | None) -> RetryPolicy:
    base = policy or RetryPolicy()
    return RetryPolicy(
        tries=max(1, int(tries)) if tries else base.tries,
        timeout=float(timeout) if timeout else base.timeout,
    )
