"""The OAuth endpoints (``/oauth/authorize``, ``/oauth/token``, ``/oauth/revoke``): public
routes, no API auth and no limits, answered by the account's ``OAuthServer``."""

from __future__ import annotations

from crm_sandbox.core import Request, Response
from crm_sandbox.pipedrive.oauth import OAuthServer


class OAuthEndpoints:
    def __init__(self, oauth: OAuthServer) -> None:
        self.oauth = oauth

    def authorize(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        return self.oauth.authorize(req)

    def token(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        # the api_domain a token answer names: where this client reached the sandbox
        self.oauth.api_domain = "http://" + req.headers.get("host", "127.0.0.1") + "/pipedrive"
        return self.oauth.token(req)

    def revoke(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        return self.oauth.revoke(req)
