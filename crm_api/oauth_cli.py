"""``crm-oauth``: the one-time Pipedrive OAuth authorization, from the command line.

1. prints the authorization URL (and opens a browser with ``--browser``);
2. receives the redirect on ``http://127.0.0.1:<port>/callback``;
3. exchanges the code for tokens at the OAuth server;
4. stores the refresh token in the file you name (mode 0600), the same file the tap and the
   target read and update as ``oauth_token_file``.

The redirect URI printed must be registered in your Pipedrive app's OAuth settings. The client
secret comes from ``--client-secret``, the ``PIPEDRIVE_CLIENT_SECRET`` environment variable, or
a prompt. Tokens are never printed.
"""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys
import threading
import time
import webbrowser
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from crm_api import pipedrive as api
from crm_api.retry import RetryPolicy
from crm_api.token_store import FileTokenStore

CALLBACK_PATH = "/callback"


class _Callback:
    """What the browser's redirect brought back."""

    def __init__(self) -> None:
        self.code: str | None = None
        self.error: str | None = None
        self.state: str | None = None
        self.done = threading.Event()


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _handler(result: _Callback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path != CALLBACK_PATH:
                self.send_error(404)
                return
            query = parse_qs(url.query)
            result.code = _first(query, "code")
            result.error = _first(query, "error")
            result.state = _first(query, "state")
            ok = result.code is not None
            body = (
                "Pipedrive access granted; you can close this tab."
                if ok
                else f"Pipedrive authorization failed: {result.error or 'no code'}."
            ).encode()
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            result.done.set()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return  # the query holds the code: keep it out of the terminal

    return Handler


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="crm-oauth",
        description="Authorize tap-crm/target-crm for a Pipedrive account (OAuth) and store "
        "the refresh token in a file.",
    )
    parser.add_argument("--client-id", required=True, help="your Pipedrive app's client id")
    parser.add_argument(
        "--client-secret",
        help="the app's client secret (default: $PIPEDRIVE_CLIENT_SECRET, else a prompt)",
    )
    parser.add_argument(
        "--token-file",
        required=True,
        help="where to store the refresh token; give the same path as oauth_token_file",
    )
    parser.add_argument(
        "--api-url",
        help="api_url of the tap (a crm-sandbox URL serves its own OAuth endpoints)",
    )
    parser.add_argument("--oauth-url", help="the OAuth server (default: oauth.pipedrive.com)")
    parser.add_argument(
        "--port",
        type=int,
        default=8765,
        help="local port for the redirect (default 8765; 0 = any free port)",
    )
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds to wait for the redirect"
    )
    parser.add_argument(
        "--max-request-tries",
        type=int,
        default=4,
        help="tries of the token request before a 5xx or a dropped connection ends it",
    )
    parser.add_argument(
        "--request-timeout", type=float, default=60, help="seconds to wait for one answer"
    )
    parser.add_argument("--browser", action="store_true", help="open the URL in a browser")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    secret = args.client_secret or os.environ.get("PIPEDRIVE_CLIENT_SECRET")
    if not secret:
        if not sys.stdin.isatty():
            print(
                "crm-oauth: give --client-secret or set PIPEDRIVE_CLIENT_SECRET",
                file=sys.stderr,
            )
            return 1
        secret = getpass.getpass("Pipedrive client secret: ")
    oauth_url = api.oauth_base(args.api_url, args.oauth_url)
    try:  # before anything is sent: the client secret must not travel in clear
        api.checked_url(oauth_url, "--oauth-url" if args.oauth_url else "--api-url")
    except api.PipedriveError as exc:
        print(f"crm-oauth: {exc}", file=sys.stderr)
        return 1
    result = _Callback()
    try:
        server = HTTPServer(("127.0.0.1", args.port), _handler(result))
    except OSError as exc:
        print(
            f"crm-oauth: cannot listen on 127.0.0.1:{args.port} ({exc.strerror})", file=sys.stderr
        )
        return 1
    redirect_uri = f"http://127.0.0.1:{server.server_address[1]}{CALLBACK_PATH}"
    state = secrets.token_urlsafe(16)
    url = api.authorization_url(oauth_url, args.client_id, redirect_uri, state)
    print(f"Redirect URI (register it in your Pipedrive app): {redirect_uri}", flush=True)
    print(f"Open this URL to grant access:\n{url}", flush=True)
    if args.browser:
        webbrowser.open(url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        got = result.done.wait(args.timeout)
    finally:
        server.shutdown()
        server.server_close()
    if not got:
        print(f"crm-oauth: no redirect within {args.timeout:.0f} s", file=sys.stderr)
        return 1
    if result.code is None:
        print(f"crm-oauth: authorization refused ({result.error or 'no code'})", file=sys.stderr)
        return 1
    if result.state != state:
        print("crm-oauth: the redirect's state does not match; try again", file=sys.stderr)
        return 1
    try:
        tokens = api.exchange_token(
            oauth_url + api.TOKEN_PATH,
            args.client_id,
            secret,
            {"grant_type": "authorization_code", "code": result.code, "redirect_uri": redirect_uri},
            policy=RetryPolicy(tries=max(1, args.max_request_tries), timeout=args.request_timeout),
        )
    except api.PipedriveError as exc:
        print(f"crm-oauth: {exc}", file=sys.stderr)
        return 1
    refresh = tokens.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        print("crm-oauth: the token answer had no refresh_token", file=sys.stderr)
        return 1
    store = FileTokenStore(args.token_file)
    store.save(refresh)
    print(f"Saved the refresh token to {store.path} ({time.strftime('%Y-%m-%d %H:%M:%S')}).")
    print(f'Set "oauth_token_file": "{store.path}" with client_id and client_secret.')
    if tokens.get("api_domain"):
        print(f"Your company's API: {tokens['api_domain']} (the tap finds it by itself).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
