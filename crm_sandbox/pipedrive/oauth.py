"""Pipedrive's OAuth 2.0 authorization-code flow (research §8), on the sandbox clock.

Access tokens live ``access_token_ttl`` seconds of the sandbox clock; refresh tokens rotate:
a refresh returns a new refresh token and the one used stops working. Revoking a refresh
token also revokes the access tokens issued from it ("revoke all user tokens").
"""

from __future__ import annotations

import base64
import secrets
import threading
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from crm_sandbox.core import Request, Response, SandboxContext

SCOPE = "base deals:full contacts:full activities:full products:full users:read"


@dataclass
class Grant:
    family: str  # one authorization; revoking its refresh token ends all its access tokens
    expires_at: float = 0.0


class OAuthServer:
    def __init__(self, ctx: SandboxContext, api_domain: str = "") -> None:
        self.ctx = ctx
        self.api_domain = api_domain
        self._lock = threading.Lock()
        self._codes: dict[str, str] = {}  # code -> redirect_uri
        self._access: dict[str, Grant] = {}
        self._refresh: dict[str, Grant] = {}

    def reset(self) -> None:
        with self._lock:
            self._codes.clear()
            self._access.clear()
            self._refresh.clear()

    def _now(self) -> float:
        return self.ctx.clock.now().timestamp()

    def access_token_valid(self, token: str) -> bool:
        with self._lock:
            grant = self._access.get(token)
            return grant is not None and grant.expires_at > self._now()

    def new_code(self, redirect_uri: str) -> str:
        """A one-time authorization code, as if the user had clicked "Allow"."""
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = redirect_uri
        return code

    # ---- endpoints ---------------------------------------------------------------
    def authorize(self, request: Request) -> Response:
        client_id = request.arg("client_id")
        redirect_uri = request.arg("redirect_uri")
        if client_id != self.ctx.settings.client_id or not redirect_uri:
            return _error(400, "invalid_request", "Unknown client_id or missing redirect_uri")
        params = {"code": self.new_code(redirect_uri)}
        state = request.arg("state")
        if state is not None:
            params["state"] = state
        parts = urlsplit(redirect_uri)
        query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
        location = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
        return Response(302, b"", {"Location": location})

    def token(self, request: Request) -> Response:
        if not self._client_ok(request):
            return _error(401, "invalid_client", "Invalid client credentials")
        form = _form(request)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            code = form.get("code", "")
            with self._lock:
                redirect = self._codes.pop(code, None)
            if redirect is None:
                return _error(400, "invalid_grant", "Invalid or used authorization code")
            if form.get("redirect_uri") and form["redirect_uri"] != redirect:
                return _error(400, "invalid_grant", "redirect_uri does not match")
            return self._issue(secrets.token_hex(8))
        if grant_type == "refresh_token":
            refresh = form.get("refresh_token", "")
            with self._lock:
                grant = self._refresh.pop(refresh, None)  # rotation: a refresh token works once
            if grant is None:
                return _error(400, "invalid_grant", "Invalid refresh token")
            return self._issue(grant.family)
        return _error(400, "unsupported_grant_type", "Unsupported grant_type")

    def revoke(self, request: Request) -> Response:
        if not self._client_ok(request):
            return _error(401, "invalid_client", "Invalid client credentials")
        form = _form(request)
        token = form.get("token", "")
        with self._lock:
            grant = self._refresh.pop(token, None)
            if grant is not None:
                for key in [k for k, g in self._access.items() if g.family == grant.family]:
                    del self._access[key]
            self._access.pop(token, None)
        return Response.json(200, {"success": True})

    # ---- helpers -------------------------------------------------------------------
    def _issue(self, family: str) -> Response:
        ttl = self.ctx.settings.access_token_ttl
        access = "pda_" + secrets.token_hex(20)
        refresh = "pdr_" + secrets.token_hex(20)
        with self._lock:
            for key in [k for k, g in self._refresh.items() if g.family == family]:
                del self._refresh[key]
            self._access[access] = Grant(family, self._now() + ttl)
            self._refresh[refresh] = Grant(family)
        return Response.json(
            200,
            {
                "access_token": access,
                "token_type": "Bearer",
                "refresh_token": refresh,
                "scope": SCOPE,
                "expires_in": ttl,
                "api_domain": self.api_domain,
            },
        )

    def _client_ok(self, request: Request) -> bool:
        settings = self.ctx.settings
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                raw = base64.b64decode(header[6:].strip()).decode("utf-8")
            except ValueError:
                return False
            client_id, _, secret = raw.partition(":")
        else:  # client id/secret in the body: accepted by Pipedrive, though discouraged
            form = _form(request)
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        return secrets.compare_digest(client_id, settings.client_id) and secrets.compare_digest(
            secret, settings.client_secret
        )


def _form(request: Request) -> dict[str, str]:
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _error(status: int, error: str, description: str) -> Response:
    return Response.json(
        status, {"success": False, "error": error, "error_description": description}
    )
