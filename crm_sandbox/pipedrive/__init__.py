"""The simulated Pipedrive API (v2 plus the v1 notes, users and fields still in use).

``PipedriveAPI(ctx)`` is the provider the sandbox server mounts under ``/pipedrive``: it checks
the token (``x-api-token`` header, ``api_token`` query, or an OAuth bearer token), applies the
burst and daily-budget limits when they are on, counts the endpoint, and hands the request to
the handlers in ``api.py``. Its ``control`` answers ``/_sandbox/pipedrive/...`` for tests.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from crm_sandbox.core import Request, Response, SandboxContext
from crm_sandbox.pipedrive.api import PipedriveHandlers
from crm_sandbox.pipedrive.base import UNAUTHORIZED
from crm_sandbox.pipedrive.limits import CLOUDFLARE_403
from crm_sandbox.pipedrive.routes import ROUTES, Route
from crm_sandbox.pipedrive.validate import Problem, failure

CONTROL_ENTITIES = (
    "deals", "persons", "organizations", "activities", "products", "pipelines", "stages",
    "notes", "leads", "files", "deal_products", "installments", "lead_labels", "users",
)  # fmt: skip
TOUCHABLE = (
    "deals", "persons", "organizations", "activities", "products", "pipelines", "stages",
    "notes", "leads", "files", "deal_products",
)  # fmt: skip


class PipedriveAPI:
    name = "pipedrive"

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.handlers = PipedriveHandlers(ctx)

    def reset(self) -> None:
        self.handlers.reset()

    # ---- API requests -----------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        route, params, allowed = self._match(request)
        if route is None:
            self.ctx.counters.hit(f"pipedrive {request.method} (unknown path)")
            if allowed:
                problem = failure(
                    405, f"Method {request.method} not allowed; use {', '.join(allowed)}"
                )
                problem.response.headers["Allow"] = ", ".join(allowed)
                return problem.response
            return failure(404, f"Unknown method {request.method} {request.path}").response
        self.ctx.counters.hit(f"pipedrive {route.method} {route.template}")
        if route.public:
            return self._call(route, request, params)
        token = self._token(request)
        if token is None:
            return Response.json(401, UNAUTHORIZED, {"x-401-by-gw": "true"})
        verdict = self.handlers.limiter.check(token, route.cost)
        if verdict.refuse == 403:
            self.ctx.counters.add("rate_limited")
            return Response.html(403, CLOUDFLARE_403, verdict.headers)
        if verdict.refuse:
            self.ctx.counters.add("rate_limited")
            body = {"success": False, "error": verdict.reason, "errorCode": 429,
                    "error_info": "Please check developers.pipedrive.com"}  # fmt: skip
            return Response.json(429, body, verdict.headers)
        response = self._call(route, request, params)
        response.headers.update(verdict.headers)
        return response

    def _match(self, request: Request) -> tuple[Route | None, dict[str, str], list[str]]:
        path = request.path.rstrip("/") or "/"
        allowed: list[str] = []
        for route in ROUTES:
            m = route.pattern.fullmatch(path)
            if m is None:
                continue
            if route.method == request.method:
                return route, m.groupdict(), []
            allowed.append(route.method)
        return None, {}, allowed

    def _call(self, route: Route, request: Request, params: dict[str, str]) -> Response:
        handler = getattr(self.handlers, route.handler)
        try:
            response: Response = handler(request, route.entity, params)
        except Problem as problem:
            return problem.response
        return response

    def _token(self, request: Request) -> str | None:
        """Who is calling (the key the burst limit counts per), or None when not authorised."""
        expected = self.ctx.settings.api_token
        given = request.headers.get("x-api-token") or request.arg("api_token")
        if given is not None and expected and secrets.compare_digest(given, expected):
            return "api_token"
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            access = header[7:].strip()
            if self.handlers.oauth.access_token_valid(access):
                return "oauth:" + access
        return None

    # ---- control ----------------------------------------------------------------------------
    def control(self, request: Request) -> Response | None:
        path = request.path.rstrip("/")
        try:
            m = re.fullmatch(r"/ids/(\w+)", path)
            if m and request.method == "GET":
                entity = self._entity(m[1])
                return Response.json(200, {"ids": self.handlers.all_ids(entity)})
            m = re.fullmatch(r"/records/(\w+)/([\w-]+)", path)
            if m and request.method == "GET":
                entity = self._entity(m[1])
                if entity == "lead_labels":
                    record = self.handlers.lead_label(m[2])
                elif entity == "leads":  # named by UUID
                    record = self.handlers.raw_record(entity, self.handlers.resolve_lead(m[2]) or 0)
                else:
                    record = self.handlers.raw_record(entity, int(m[2]) if m[2].isdigit() else 0)
                if record is None:
                    return Response.json(404, {"error": f"no {m[1]} with id {m[2]}"})
                return Response.json(200, record)
            if path == "/touch" and request.method == "POST":
                return self._touch(request)
            if path == "/features":
                return self._features(request)
            if path == "/fields" and request.method == "GET":
                return Response.json(200, self._custom_fields())
            if path == "/oauth/code" and request.method == "POST":
                return self._mint_code(request)
        except Problem as problem:
            return problem.response
        return None

    @staticmethod
    def _entity(name: str) -> str:
        if name not in CONTROL_ENTITIES:
            raise Problem(
                Response.json(404, {"error": f"unknown entity {name!r}; one of {CONTROL_ENTITIES}"})
            )
        return name

    def _touch(self, request: Request) -> Response:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return Response.json(400, {"error": "the body must be JSON"})
        entity = body.get("entity") if isinstance(body, dict) else None
        if entity not in TOUCHABLE:
            return Response.json(400, {"error": f"entity must be one of {TOUCHABLE}"})
        ids, count = body.get("ids"), body.get("count")
        if entity == "leads" and isinstance(ids, list):  # leads are named by their UUIDs
            rows = [self.handlers.resolve_lead(i) if isinstance(i, str) else None for i in ids]
            if None in rows:
                return Response.json(404, {"error": "ids must be UUIDs of existing leads"})
            ids = rows
        if ids is not None and not (isinstance(ids, list) and all(isinstance(i, int) for i in ids)):
            return Response.json(400, {"error": "ids must be a list of integers"})
        if ids is None and not (isinstance(count, int) and count > 0):
            return Response.json(400, {"error": 'give "ids": [...] or "count": n'})
        if entity == "deal_products":
            return Response.json(200, self.handlers.touch_deal_products(ids, count))
        return Response.json(200, self.handlers.touch(entity, ids, count))

    def _features(self, request: Request) -> Response:
        """Plan features: ``{"installments": false}`` makes installments answer 403."""
        features = self.handlers.features
        if request.method == "POST":
            try:
                body = json.loads(request.body or b"{}")
            except ValueError:
                return Response.json(400, {"error": "the body must be JSON"})
            if not isinstance(body, dict) or not all(
                k in features and isinstance(v, bool) for k, v in body.items()
            ):
                return Response.json(400, {"error": f"give booleans for {sorted(features)}"})
            features.update(body)
        elif request.method != "GET":
            return Response.json(405, {"error": "use GET or POST"})
        return Response.json(200, dict(features))

    def _custom_fields(self) -> dict[str, Any]:
        return {
            entity: [
                {"key": f.key, "name": f.name, "field_type": f.field_type} for f in fields.custom
            ]
            for entity, fields in self.handlers.world.fields.items()
        }

    def _mint_code(self, request: Request) -> Response:
        """An authorization code without the browser round trip (same as /oauth/authorize)."""
        body = json.loads(request.body or b"{}")
        redirect = body.get("redirect_uri", "http://127.0.0.1/callback")
        code = self.handlers.oauth.new_code(redirect)
        return Response.json(200, {"code": code, "redirect_uri": redirect})


__all__ = ["PipedriveAPI"]
