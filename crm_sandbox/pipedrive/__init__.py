"""The simulated Pipedrive API (v2 plus the v1 notes, users and fields still in use).

``PipedriveAPI(ctx)`` is the provider the sandbox server mounts under ``/pipedrive``: it finds
the route (``routes.ROUTES``), counts it, checks the token (``x-api-token`` header, ``api_token``
query, or an OAuth bearer token), applies the burst and daily-budget limits when they are on,
and calls the handler the route names. The parts it uses:

- ``account.Account``: the seeded records and plan features every endpoint reads and writes.
- ``endpoints``: one object per concern (v2 lists, v2 records, followers, fields, deal children,
  deal history, notes, users, leads, small lists, files, OAuth) answering its routes.
- ``limits.Limiter`` and ``oauth.OAuthServer``: the rate limits and the OAuth grants.
- ``control.PipedriveControl``: ``/_sandbox/pipedrive/...`` for tests.
"""

from __future__ import annotations

import secrets

from crm_sandbox.core import Request, Response, SandboxContext
from crm_sandbox.pipedrive.account import Account
from crm_sandbox.pipedrive.control import PipedriveControl
from crm_sandbox.pipedrive.endpoints import Endpoints
from crm_sandbox.pipedrive.limits import CLOUDFLARE_403, Limiter
from crm_sandbox.pipedrive.oauth import OAuthServer
from crm_sandbox.pipedrive.routes import Handler, RouteTable
from crm_sandbox.pipedrive.validate import Problem, failure

UNAUTHORIZED = {
    "success": False,
    "error": "unauthorized access",
    "errorCode": 401,
    "error_info": "Please check developers.pipedrive.com",
}


class PipedriveAPI:
    name = "pipedrive"

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.account = Account(ctx)
        self.oauth = OAuthServer(ctx)
        self.limiter = Limiter(ctx)
        self.routes = RouteTable(Endpoints(self.account, self.oauth))
        self._control = PipedriveControl(self.account, self.oauth)

    def reset(self) -> None:
        self.account.reset()
        self.oauth.reset()
        self.limiter.reset()

    def handle(self, request: Request) -> Response:
        found = self.routes.match(request.method, request.path)
        if isinstance(found, list):
            self.ctx.counters.hit(f"pipedrive {request.method} (unknown path)")
            if found:
                problem = failure(
                    405, f"Method {request.method} not allowed; use {', '.join(found)}"
                )
                problem.response.headers["Allow"] = ", ".join(found)
                return problem.response
            return failure(404, f"Unknown method {request.method} {request.path}").response
        route, handler, params = found
        self.ctx.counters.hit(f"pipedrive {route.method} {route.template}")
        if route.public:
            return _answer(handler, request, route.entity, params)
        token = self._token(request)
        if token is None:
            return Response.json(401, UNAUTHORIZED, {"x-401-by-gw": "true"})
        verdict = self.limiter.check(token, route.cost)
        if verdict.refuse == 403:
            self.ctx.counters.add("rate_limited")
            return Response.html(403, CLOUDFLARE_403, verdict.headers)
        if verdict.refuse:
            self.ctx.counters.add("rate_limited")
            body = {"success": False, "error": verdict.reason, "errorCode": 429,
                    "error_info": "Please check developers.pipedrive.com"}  # fmt: skip
            return Response.json(429, body, verdict.headers)
        response = _answer(handler, request, route.entity, params)
        response.headers.update(verdict.headers)
        return response

    def control(self, request: Request) -> Response | None:
        return self._control.answer(request)

    def _token(self, request: Request) -> str | None:
        """Who is calling (the key the burst limit counts per), or None when not authorised."""
        expected = self.ctx.settings.api_token
        given = request.headers.get("x-api-token") or request.arg("api_token")
        if given is not None and expected and secrets.compare_digest(given, expected):
            return "api_token"
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            access = header[7:].strip()
            if self.oauth.access_token_valid(access):
                return "oauth:" + access
        return None


def _answer(handler: Handler, request: Request, entity: str, params: dict[str, str]) -> Response:
    try:
        return handler(request, entity, params)
    except Problem as problem:
        return problem.response


__all__ = ["PipedriveAPI"]
