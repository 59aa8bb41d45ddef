"""crm-sandbox's HTTP server: one loopback listener, three path prefixes.

``/pipedrive/...`` and ``/onpipeline/...`` go to the simulated APIs (the providers), after the
network misbehaviour the user asked for: dropped connections, added latency, 5xx faults.
``/_sandbox/...`` is the control endpoint (reset, settings, clock, counters); it never suffers
faults, drops or latency and is not counted.

The server knows nothing of an API's rules; a provider knows nothing of sockets. The only
API knowledge here is the shape of a 500 body, so an injected fault looks like the real thing.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import socket
import socketserver
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from datetime import UTC, datetime
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_sandbox.core import (
    ODD_BODIES_BEFORE_API,
    ODD_BODY_KINDS,
    Provider,
    Request,
    Response,
    SandboxContext,
    Settings,
)

ProviderFactory = Callable[[SandboxContext], Provider]


def default_providers() -> dict[str, ProviderFactory]:
    """Where the simulated APIs are registered: URL prefix -> class built from the context.

    Imported here, not at module top, so ``crm_sandbox.core`` users and the CLI's ``--help``
    don't pay for generating-code imports they don't need.
    """
    from crm_sandbox.onpipeline import OnpipelineAPI
    from crm_sandbox.pipedrive import PipedriveAPI

    return {"pipedrive": PipedriveAPI, "onpipeline": OnpipelineAPI}


# --- settings: checked once here, for flags, /_sandbox/config and /_sandbox/reset alike ---


class SettingsError(ValueError):
    """A setting value the sandbox refuses; the message says what to change."""


_RATES = ("fault_rate", "drop_rate", "slow_rate", "odd_body_rate")
_DURATIONS_MS = ("latency_ms", "slow_ms")
_LIMITS = ("size", "burst_limit", "daily_budget", "onpipeline_rate_limit", "odd_body_count")
_NON_EMPTY = ("api_token", "client_id", "client_secret")
SETTING_NAMES = tuple(f.name for f in fields(Settings))


def check_settings(settings: Settings) -> None:
    """Raise :class:`SettingsError` for the first value out of its range."""
    for name in _RATES:
        value = getattr(settings, name)
        if not 0.0 <= value <= 1.0:
            raise SettingsError(f"{name} must be a share between 0 and 1, got {value}")
    for name in _DURATIONS_MS:
        value = getattr(settings, name)
        if not (math.isfinite(value) and value >= 0):
            raise SettingsError(f"{name} must be a number of milliseconds >= 0, got {value}")
    for name in _LIMITS:
        if getattr(settings, name) < 0:
            raise SettingsError(
                f"{name} must be >= 0 (0 turns it off), got {getattr(settings, name)}"
            )
    if settings.odd_body and settings.odd_body not in ODD_BODY_KINDS:
        raise SettingsError(
            f'odd_body must be one of {", ".join(ODD_BODY_KINDS)} (or "" for off), '
            f"got {settings.odd_body!r}"
        )
    for name in _NON_EMPTY:
        if not getattr(settings, name):
            raise SettingsError(f"{name} must not be empty")
    if settings.access_token_ttl <= 0:
        raise SettingsError(
            f"access_token_ttl must be > 0 seconds, got {settings.access_token_ttl}"
        )
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"timezone must be an IANA time zone such as Europe/Rome, got {settings.timezone!r}"
        ) from None


def _coerce(name: str, current: Any, value: Any) -> Any:
    """Convert one incoming value to the type of the setting, strictly (no silent truncation)."""
    kind = type(current)
    if kind is str:
        if not isinstance(value, str):
            raise SettingsError(f"{name} must be a string, got {value!r}")
        return value
    if isinstance(value, bool):
        raise SettingsError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value) if kind is float else int(value)
    except (TypeError, ValueError):
        noun = "an integer" if kind is int else "a number"
        raise SettingsError(f"{name} must be {noun}, got {value!r}") from None
    if kind is int and isinstance(value, float) and value != number:
        raise SettingsError(f"{name} must be an integer, got {value!r}")
    return number


def with_changes(settings: Settings, changes: Mapping[str, Any]) -> Settings:
    """A checked copy of ``settings`` with ``changes`` applied; the original is untouched."""
    updated = replace(settings)
    for name, value in changes.items():
        if name not in SETTING_NAMES:
            raise SettingsError(f"unknown setting {name!r}; known: {', '.join(SETTING_NAMES)}")
        setattr(updated, name, _coerce(name, getattr(updated, name), value))
    check_settings(updated)
    return updated


def _copy_into(target: Settings, source: Settings) -> None:
    # Providers hold the context's Settings object: change it in place, never swap it.
    for name in SETTING_NAMES:
        setattr(target, name, getattr(source, name))


# --- the sandbox: state behind the listener ---------------------------------------------

_PIPEDRIVE_500 = {
    "success": False,
    "error": "Internal server error",
    "error_info": "Please check developers.pipedrive.com for more information about Pipedrive API.",
    "data": None,
    "additional_data": None,
}
_GATEWAY_PAGES = {
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
}


# What a proxy in front of the API might answer with a 200 (a captive portal, a login wall).
_PROXY_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Sign in to continue</title></head>\n"
    "<body><h1>Network sign-in required</h1><p>Please sign in to access this site.</p>"
    "</body></html>\n"
)
# The data member of each provider's success envelope.
_DATA_KEY = {"pipedrive": "data", "onpipeline": "Data"}


def _gateway_page(status: int) -> str:
    title = f"{status} {_GATEWAY_PAGES[status]}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )


class Sandbox:
    """The context, the providers, and the seeded dice that decide faults, drops and slowness."""

    def __init__(
        self, settings: Settings, providers: Mapping[str, ProviderFactory] | None = None
    ) -> None:
        check_settings(settings)
        self.launch_settings = replace(settings)  # what /_sandbox/reset goes back to
        self.ctx = SandboxContext(settings=replace(settings))
        factories = default_providers() if providers is None else providers
        # Each provider builds its data from ctx.settings.seed/size when constructed.
        self.providers: dict[str, Provider] = {
            name: make(self.ctx) for name, make in factories.items()
        }
        self._dice = random.Random(settings.seed)
        # Odd bodies roll their own dice (only for matching requests), so adding them left the
        # fault/drop/slow sequence of a seed as it was.
        self._odd_dice = random.Random(_odd_seed(settings.seed))
        self._odd_served = 0  # odd bodies served since the odd_body settings last changed
        self._dice_lock = threading.Lock()
        self._reset_lock = threading.Lock()

    # -- API requests --

    def handle_api(self, provider: Provider, request: Request) -> Response | None:
        """The provider's answer after the network's misbehaviour; None means drop the connection.

        A fault or a drop happens before the API sees the request: nothing is written and no
        rate-limit token is spent, so a client may retry it safely. So do the odd 200 bodies of
        ``ODD_BODIES_BEFORE_API``; the other odd bodies alter the API's own answer.
        """
        settings = self.ctx.settings
        counters = self.ctx.counters
        # Always four draws per request, so a run is reproducible whatever the rates are.
        with self._dice_lock:
            drop, slow, fault, which = (self._dice.random() for _ in range(4))
        if drop < settings.drop_rate:
            counters.add("drops")
            return None
        delay_ms = settings.latency_ms + (settings.slow_ms if slow < settings.slow_rate else 0.0)
        if delay_ms > 0:
            time.sleep(delay_ms / 1000.0)
        if fault < settings.fault_rate:
            counters.add("faults")
            response = self._fault_response(provider.name, (500, 502, 503)[int(which * 3)])
        else:
            odd = self._odd_kind(provider.name, request)
            before_api = odd in ODD_BODIES_BEFORE_API  # a proxy's answer: the API never sees it
            answer = _odd_response(odd, provider.name, None) if before_api else None
            if answer is None:
                try:
                    response = provider.handle(request)
                except Exception:
                    response = _internal_error()
                answer = _odd_response(odd, provider.name, response) if odd else None
            if answer is not None:
                counters.add("odd_bodies")
                response = answer
            elif odd:  # the API's answer was not a 2xx JSON object to alter: give the turn back
                with self._dice_lock:
                    self._odd_served -= 1
        counters.status(response.status)
        return response

    def _odd_kind(self, provider_name: str, request: Request) -> str:
        """The odd body to serve for this request, or "" (one draw per matching request)."""
        settings = self.ctx.settings
        if not settings.odd_body:
            return ""
        path = f"/{provider_name}{request.path}"
        if settings.odd_body_path:
            if settings.odd_body_path not in path:
                return ""
        elif request.path.startswith("/oauth/"):  # OAuth only when the path names it
            return ""
        with self._dice_lock:
            hit = self._odd_dice.random() < settings.odd_body_rate
            if not hit or (settings.odd_body_count and self._odd_served >= settings.odd_body_count):
                return ""
            self._odd_served += 1
        return settings.odd_body

    def _fault_response(self, provider_name: str, status: int) -> Response:
        if status in _GATEWAY_PAGES:
            return Response.html(status, _gateway_page(status))
        if provider_name == "onpipeline":
            local = self.ctx.clock.now().astimezone(ZoneInfo(self.ctx.settings.timezone))
            error = {
                "Code": "500",
                "Message": "Internal Server Error",
                "Time": local.strftime("%Y-%m-%d %H:%M:%S"),
                "IP": "127.0.0.1",
            }
            return Response.json(500, {"Error": error})
        return Response.json(500, _PIPEDRIVE_500)

    # -- control: /_sandbox/... --

    def handle_control(self, request: Request) -> Response:
        """``request.path`` is relative to ``/_sandbox`` (e.g. "/reset")."""
        path = request.path.rstrip("/") or "/"
        name, _, rest = path.lstrip("/").partition("/")
        if name in self.providers:
            # Provider-specific control gets the path without "/_sandbox/<name>", e.g. "/ids/deals".
            sub = replace(request, path="/" + rest)
            answer = self.providers[name].control(sub)
            return answer or _error(404, f"no control path /_sandbox{path} for {name}")
        routes: dict[str, dict[str, Callable[[Any], Response]]] = {
            "/health": {"GET": self._health},
            "/reset": {"POST": self._reset},
            "/config": {"GET": self._get_config, "POST": self._set_config},
            "/clock": {"GET": self._get_clock, "POST": self._advance_clock},
            "/counters": {"GET": self._get_counters},
            "/counters/reset": {"POST": self._reset_counters},
        }
        methods = routes.get(path)
        if methods is None:
            known = ", ".join(f"/_sandbox{p}" for p in routes)
            return _error(404, f"no control path /_sandbox{path}; known: {known}")
        action = methods.get(request.method)
        if action is None:
            allowed = ", ".join(methods)
            return _error(405, f"/_sandbox{path} takes {allowed}", {"Allow": allowed})
        try:
            body = request.json() if request.body.strip() else {}
        except ValueError:
            return _error(400, "the body must be a JSON object")
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object")
        try:
            return action(body)
        except SettingsError as exc:
            return _error(400, str(exc))

    def _health(self, _: dict[str, Any]) -> Response:
        settings = self.ctx.settings
        return Response.json(
            200,
            {
                "status": "ok",
                "providers": list(self.providers),
                "seed": settings.seed,
                "size": settings.size,
                "now": _iso(self.ctx.clock.now()),
            },
        )

    def reset(self, changes: Mapping[str, Any]) -> None:
        """Back to the launch settings (plus ``changes``), a fresh clock, counters and data."""
        fresh = with_changes(self.launch_settings, changes)
        with self._reset_lock:
            _copy_into(self.ctx.settings, fresh)
            self.ctx.clock.reset()
            with self._dice_lock:
                self._dice.seed(fresh.seed)
                self._odd_dice.seed(_odd_seed(fresh.seed))
                self._odd_served = 0
            for provider in self.providers.values():
                provider.reset()
            self.ctx.counters.reset()

    def _reset(self, body: dict[str, Any]) -> Response:
        self.reset(body)
        return Response.json(200, {"status": "reset", "settings": self.ctx.settings.public()})

    def _get_config(self, _: dict[str, Any]) -> Response:
        return Response.json(200, self.ctx.settings.public())

    def _set_config(self, body: dict[str, Any]) -> Response:
        data_shaping = sorted({"seed", "size"} & body.keys())
        if data_shaping:
            raise SettingsError(
                f"{' and '.join(data_shaping)} regenerate the data: "
                'POST /_sandbox/reset {"seed": ..., "size": ...} instead'
            )
        _copy_into(self.ctx.settings, with_changes(self.ctx.settings, body))
        if any(name.startswith("odd_body") for name in body):
            with self._dice_lock:  # a new odd_body_count counts from now
                self._odd_served = 0
        return Response.json(200, self.ctx.settings.public())

    def _clock_state(self) -> Response:
        now = self.ctx.clock.now()
        offset = (now - datetime.now(UTC)).total_seconds()
        return Response.json(200, {"now": _iso(now), "offset_seconds": round(offset, 3)})

    def _get_clock(self, _: dict[str, Any]) -> Response:
        return self._clock_state()

    def _advance_clock(self, body: dict[str, Any]) -> Response:
        seconds = body.get("advance_seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise SettingsError('send {"advance_seconds": N} with N a number of seconds >= 0')
        if not (math.isfinite(seconds) and seconds >= 0):
            raise SettingsError(
                f"advance_seconds must be >= 0 (the clock only moves forward), got {seconds}"
            )
        self.ctx.clock.advance(seconds)
        return self._clock_state()

    def _get_counters(self, _: dict[str, Any]) -> Response:
        return Response.json(200, self.ctx.counters.snapshot())

    def _reset_counters(self, _: dict[str, Any]) -> Response:
        self.ctx.counters.reset()
        return Response.json(200, self.ctx.counters.snapshot())

    # -- routing --

    def dispatch(self, request: Request) -> Response | None:
        """Route one request by its first path segment; None means drop the connection."""
        prefix, _, rest = request.path.lstrip("/").partition("/")
        if prefix == "_sandbox":
            return self.handle_control(replace(request, path="/" + rest))
        provider = self.providers.get(prefix)
        if provider is not None:
            return self.handle_api(provider, replace(request, path="/" + rest))
        prefixes = ", ".join(f"/{name}/..." for name in [*self.providers, "_sandbox"])
        return _error(404, f"no such path {request.path}; the sandbox serves {prefixes}")


def _odd_seed(seed: int) -> str:
    return f"odd-body-{seed}"


def _odd_response(kind: str, provider_name: str, real: Response | None) -> Response | None:
    """An HTTP 200 with the odd body ``kind``. ``real`` is the API's answer, for the kinds that
    alter it; None when there is nothing to alter (not a 2xx JSON object)."""
    json_type = {"Content-Type": "application/json; charset=utf-8"}
    if kind == "html":
        return Response.html(200, _PROXY_PAGE)
    if kind == "empty":
        return Response(200, b"", json_type)
    if kind == "list":
        return Response.json(200, [])
    if kind == "empty_object":
        return Response.json(200, {})
    if real is None or not 200 <= real.status < 300:
        return None
    try:
        envelope = json.loads(real.body.decode("utf-8"))
    except ValueError:
        return None
    if not isinstance(envelope, dict):
        return None
    if kind == "truncated":
        return Response(200, real.body[: len(real.body) // 2], dict(real.headers))
    key = _DATA_KEY.get(provider_name, "data")
    if kind == "data_string":
        envelope[key] = "oops"
    else:  # data_object: a list becomes its first item (or {}), anything else {}
        data = envelope.get(key)
        first = data[0] if isinstance(data, list) and data else None
        envelope[key] = first if isinstance(first, dict) else {}
    return Response.json(200, envelope)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response.json(status, {"error": message, "status": status}, headers)


def _internal_error() -> Response:
    """A sandbox bug: say so loudly on stderr, answer like a broken server would."""
    traceback.print_exc(file=sys.stderr)
    return _error(500, "crm-sandbox internal error (see its stderr)")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- HTTP plumbing ---------------------------------------------------------------------

_REASONS = {status.value: status.phrase for status in HTTPStatus}


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive; each response is written in one ``sendall`` (head + body)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 300  # idle keep-alive connections give their thread back after 5 minutes
    server: _Listener

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, open_=False)

    def _serve(self) -> None:
        length = self.headers.get("Content-Length", "0")
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._send(_error(411, "send the body with a Content-Length, not chunked"))
            return
        if not length.isdigit():
            self.close_connection = True
            self._send(_error(400, f"bad Content-Length {length!r}"))
            return
        body = self.rfile.read(int(length))
        raw_path, _, query = self.path.partition("?")
        request = Request.from_raw(self.command, unquote(raw_path), query, dict(self.headers), body)
        try:
            response = self.server.sandbox.dispatch(request)
        except Exception:  # e.g. in a provider's control: answer rather than drop the connection
            response = _internal_error()
        if response is None:  # a simulated network failure: close without a byte of answer
            self.close_connection = True
            return
        self._send(response)

    # The stdlib dispatches on these names.
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

    def _send(self, response: Response) -> None:
        status = response.status
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, '')}"]
        head.extend(f"{key}: {value}" for key, value in response.headers.items())
        head.append(f"Content-Length: {len(response.body)}")
        now = self.server.sandbox.ctx.clock.now().timestamp()  # the sandbox's time, moved or not
        head.append(f"Date: {formatdate(now, usegmt=True)}")
        if self.close_connection:
            head.append("Connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body)
        if self.server.verbose:
            self.log_request(status, len(response.body))

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        # Per-request logging costs more than serving a small page: only with --verbose.
        if self.server.verbose:
            super().log_message(format, *args)


class _Listener(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() closes open connections itself instead of waiting on them
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: Sandbox, verbose: bool) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.sandbox = sandbox
        self.verbose = verbose
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host up with socket.getfqdn (a DNS query that can
        # stall where there is no network); the name is never used here, so skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._open_lock:
            if open_:
                self._open.add(connection)
            else:
                self._open.discard(connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer (a tap abandoning an answer too big to keep, a
        # killed process) is a normal event for an API server: no traceback on stderr.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)


class SandboxServer:
    """The listening sandbox. Binds on construction, so ``port`` is known before ``start()``.

    >>> with SandboxServer(Settings(size=20)).start() as server:
    ...     print(server.urls()["pipedrive"])  # doctest: +SKIP
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        providers: Mapping[str, ProviderFactory] | None = None,
        verbose: bool = False,
    ) -> None:
        self.sandbox = Sandbox(settings or Settings(), providers)
        self._listener = _Listener((host, port), self.sandbox, verbose)
        self.host = host
        self.port: int = self._listener.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def urls(self) -> dict[str, str]:
        """The JSON object ``crm-sandbox serve`` prints on its first line."""
        settings = self.sandbox.ctx.settings
        return {
            "pipedrive": f"{self.base_url}/pipedrive",
            "onpipeline": f"{self.base_url}/onpipeline",
            "api_token": settings.api_token,
            "control": f"{self.base_url}/_sandbox",
            "client_id": settings.client_id,
            "client_secret": settings.client_secret,
        }

    def serve_forever(self) -> None:
        self._listener.serve_forever(poll_interval=0.2)

    def start(self) -> SandboxServer:
        """Serve from a background daemon thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="crm-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close open connections, release the port. Safe to call twice."""
        if self._thread is not None:
            self._listener.shutdown()
            self._thread.join()
            self._thread = None
        self._listener.close_connections()
        self._listener.server_close()

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
