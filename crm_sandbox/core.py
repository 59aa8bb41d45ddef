"""What the HTTP server and the two simulated APIs share.

The server (``server.py``) turns each HTTP exchange into a :class:`Request`, applies the
network misbehaviour the user asked for (latency, faults, dropped connections), then hands
the request to the provider whose prefix it carries (``/pipedrive`` or ``/onpipeline``).
A provider answers with a :class:`Response`. Providers never see sockets; the server never
knows an API's rules. Both read the mutable :class:`Settings`, the movable :class:`Clock`
and the thread-safe :class:`Counters` of one :class:`SandboxContext`.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import parse_qs


@dataclass
class Request:
    """One HTTP request, with the provider prefix already stripped from ``path``."""

    method: str
    path: str  # e.g. "/api/v2/deals" or "/PersonList"
    query: dict[str, list[str]]
    headers: dict[str, str]  # keys lower-cased
    body: bytes = b""

    @classmethod
    def from_raw(
        cls, method: str, path: str, raw_query: str, headers: dict[str, str], body: bytes
    ) -> Request:
        return cls(
            method=method.upper(),
            path=path,
            query=parse_qs(raw_query, keep_blank_values=True),
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
        )

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` on anything else."""
        return json.loads(self.body.decode("utf-8")) if self.body else None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return cls(
            status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        )

    @classmethod
    def html(cls, status: int, text: str, headers: dict[str, str] | None = None) -> Response:
        return cls(
            status,
            text.encode("utf-8"),
            {"Content-Type": "text/html; charset=utf-8", **(headers or {})},
        )


@dataclass
class Settings:
    """Everything a user or test may change while the sandbox runs (flags, ``/_sandbox/config``)."""

    seed: int = 42
    size: int = 100  # number of deals; other entities scale from it
    api_token: str = "sandbox-token"
    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"
    latency_ms: float = 0.0  # added to every API response
    burst_limit: int = 0  # Pipedrive: requests per rolling 2 s per token; 0 = off
    daily_budget: int = 0  # Pipedrive: tokens per day per company; 0 = off
    onpipeline_rate_limit: int = 0  # Onpipeline: requests per minute per account; 0 = off
    fault_rate: float = 0.0  # share of API responses replaced by 500/502/503
    drop_rate: float = 0.0  # share of API connections closed without a response
    slow_rate: float = 0.0  # share of API responses delayed by slow_ms more
    slow_ms: float = 0.0
    # Odd 200 bodies (a proxy answering garbage, an API bug): see ODD_BODY_KINDS. "" = off.
    odd_body: str = ""
    odd_body_rate: float = 0.0  # share of matching API responses replaced
    odd_body_path: str = ""  # substring of "/<provider><path>"; "" = every API path but OAuth
    odd_body_count: int = 0  # at most this many replaced, then normal again; 0 = no limit
    access_token_ttl: int = 3600  # seconds an OAuth access token lives
    timezone: str = "Europe/Rome"  # Onpipeline account time zone (its datetimes are local)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update, refusing unknown names and coercing to the field's type."""
        for name, value in changes.items():
            if name not in self.__dataclass_fields__:
                raise KeyError(name)
            current = getattr(self, name)
            setattr(self, name, type(current)(value))

    def public(self) -> dict[str, Any]:
        return asdict(self)


# The odd 200 bodies the sandbox can serve instead of an API's answer (``Settings.odd_body``).
# The first four replace the request before the API sees it (nothing written, no token spent,
# like a proxy answering for it); the last three alter the API's own 2xx JSON answer on its way
# back (so a write they answer did happen).
ODD_BODY_KINDS: dict[str, str] = {
    "html": "an HTML page (Content-Type text/html), e.g. a proxy's sign-in page",
    "empty": "zero bytes",
    "list": "a JSON list: []",
    "empty_object": "an empty JSON object: {}",
    "truncated": "the API's real JSON body cut in half",
    "data_string": 'the success envelope with its data a string ("data"/"Data": "oops")',
    "data_object": "the success envelope with its data an object (a list's first item, or {})",
}
ODD_BODIES_BEFORE_API = ("html", "empty", "list", "empty_object")


class Clock:
    """Real time plus an offset that ``/_sandbox/clock`` moves forward (never backward)."""

    def __init__(self) -> None:
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The sandbox's current time, timezone-aware UTC."""
        return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    def reset(self) -> None:
        with self._lock:
            self._offset = timedelta()


class Counters:
    """Thread-safe tallies that tests and benchmarks read from ``/_sandbox/counters``.

    ``requests`` is keyed "<provider> <METHOD> <endpoint template>", e.g.
    "pipedrive GET /api/v2/deals/{id}/followers/changelog" or "onpipeline POST /PersonList".
    ``statuses`` counts responses per status code; ``events`` counts named happenings
    ("writes", "rate_limited", "faults", "drops", "odd_bodies", "records_served", "tokens_spent").
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.events: Counter[str] = Counter()

    def hit(self, endpoint: str) -> None:
        with self._lock:
            self.requests[endpoint] += 1

    def status(self, code: int) -> None:
        with self._lock:
            self.statuses[str(code)] += 1

    def add(self, event: str, amount: int = 1) -> None:
        with self._lock:
            self.events[event] += amount

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {
                "requests": dict(self.requests),
                "statuses": dict(self.statuses),
                "events": dict(self.events),
            }

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.statuses.clear()
            self.events.clear()


@dataclass
class SandboxContext:
    settings: Settings
    clock: Clock = field(default_factory=Clock)
    counters: Counters = field(default_factory=Counters)


class Provider(Protocol):
    """One simulated API. Implementations: ``pipedrive.PipedriveAPI``, ``onpipeline.OnpipelineAPI``.

    The server builds each provider once, as ``Provider(ctx)``: build the data there (the server
    calls ``reset()`` only for ``POST /_sandbox/reset``). The server counts the status of every
    API response it sends (``counters.status``) and the "faults" and "drops" it injects; a
    provider counts the requests it answers (``counters.hit``) and its own events.
    """

    name: str  # "pipedrive" or "onpipeline": also the URL prefix

    def handle(self, request: Request) -> Response:
        """Answer one request (auth, rate limits, routing, the API's envelopes and errors).

        Must call ``ctx.counters.hit(...)`` with the endpoint template it matched.
        """
        ...

    def reset(self) -> None:
        """Regenerate the data from ``ctx.settings.seed`` and ``.size``; forget all writes."""
        ...

    def control(self, request: Request) -> Response | None:
        """Optional provider-specific control under ``/_sandbox/<name>/...`` (e.g. id dumps).

        ``request.path`` is relative to ``/_sandbox/<name>``: ``GET /_sandbox/pipedrive/ids/deals``
        arrives as ``/ids/deals``. Return None when the path is not one of its own (-> 404).
        """
        ...
