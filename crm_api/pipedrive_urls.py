"""Where Pipedrive's API and OAuth server are, and whether a URL may carry a credential:
no HTTP is sent here (``crm_api.pipedrive``, the one client, re-exports all of it)."""

from __future__ import annotations

from urllib.parse import urlencode, urlparse

from crm_api.pipedrive_answers import PipedriveError
from crm_api.urls import UnsafeURLError, check_url

DEFAULT_API_URL = "https://api.pipedrive.com"
DEFAULT_OAUTH_URL = "https://oauth.pipedrive.com"
AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/token"
REVOKE_PATH = "/oauth/revoke"


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
