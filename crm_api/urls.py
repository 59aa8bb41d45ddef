"""Where a request may go, and how a URL is named in a message: shared by both providers.

* ``check_url(url, setting, provider)``: https, or plain http only to a loopback host (a
  crm-sandbox on this machine), so a token never travels in clear over a network; anything
  else raises ``UnsafeURLError`` with one line naming the setting. Checked before any send.
* ``shown(url)``: the URL as an error line may show it: scheme, host and port only, never the
  userinfo (``http://user:password@host``), path or query.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


class UnsafeURLError(ValueError):
    """A URL a request must not be sent to; ``str(error)`` is one line naming the setting."""


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: the only hosts plain http may reach."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def shown(url: str | None) -> str:
    """``scheme://host[:port]`` of ``url``: never its userinfo, path or query."""
    if not url:
        return "''"
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # e.g. a port that is not a number
        return "(an unreadable URL)"
    if ":" in host:
        host = f"[{host}]"
    scheme = f"{parts.scheme}://" if parts.scheme else ""
    return f"{scheme}{host}{f':{port}' if port else ''}" or "(a URL without a host)"


def check_url(url: str, setting: str = "api_url", provider: str = "the API") -> str:
    """``url`` without a trailing slash when a request may be sent there, else
    ``UnsafeURLError``. The message names the host only (a password in it is never shown)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  # raises ValueError on a port that is not a number
    except ValueError:
        raise UnsafeURLError(
            f"{setting} {shown(url)} is not a valid URL; use https://<host>"
        ) from None
    remote_http = parts.scheme == "http" and not is_loopback(host or "")
    if parts.scheme not in ("http", "https") or not host or remote_http:
        raise UnsafeURLError(
            f"{setting} {shown(url)} is refused: {provider} takes only https:// URLs (a token "
            "must not travel in clear); plain http:// only to a loopback address such as a "
            "crm-sandbox on http://127.0.0.1:PORT"
        )
    return url.rstrip("/")
