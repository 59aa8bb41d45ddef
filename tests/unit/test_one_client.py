"""One client per API (issue 11): only crm_api/pipedrive.py and crm_api/onpipeline.py send HTTP.

The tap's streams send through the Singer SDK's own hooks (inside singer_sdk, with the
client's sessions); everything else asks a client. Two checks: the issue's grep, and a broader
look at the syntax tree for any call that sends a request.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("crm_api", "tap_crm", "target_crm")
CLIENTS = {"crm_api/pipedrive.py", "crm_api/onpipeline.py"}

# What `grep -rn "requests\.\(get\|post\|request\)\|session\.\(get\|post\|request\)"` finds.
ISSUE_GREP = re.compile(r"requests\.(get|post|request)|session\.(get|post|request)")

SEND_METHODS = frozenset(
    {"request", "send", "get", "post", "put", "patch", "delete", "head", "options"}
)
# Modules that can open a connection; only the clients may import them for sending.
HTTP_MODULES = ("http.client", "urllib.request", "urllib3", "httpx", "aiohttp", "socket")


def _sources() -> list[tuple[str, str]]:
    return [
        (path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8"))
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    ]


def _senders(tree: ast.AST) -> list[str]:
    """Calls in ``tree`` that send HTTP: ``requests.<verb>(...)``, ``requests.request(...)``,
    a send method on anything that looks like a session (``session``, ``self.session()``,
    ``requests.Session()``, ``self.requests_session``), and ``super().send(...)``."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if node.func.attr not in SEND_METHODS:
            continue
        receiver = ast.unparse(node.func.value)
        if (
            receiver == "requests"
            or "session" in receiver.lower()
            or (receiver == "super()" and node.func.attr == "send")
        ):
            found.append(f"line {node.lineno}: {ast.unparse(node.func)}(...)")
    return found


def _http_imports(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        found.extend(
            f"line {node.lineno}: import {name}"
            for name in names
            if any(name == m or name.startswith(f"{m}.") for m in HTTP_MODULES)
        )
    return found


def test_the_issue_grep_finds_http_only_in_the_two_clients() -> None:
    hits = {
        f"{path}:{number}"
        for path, text in _sources()
        for number, line in enumerate(text.splitlines(), 1)
        if ISSUE_GREP.search(line)
    }
    assert hits, "the grep finds nothing at all: the check itself is broken"
    assert {hit.split(":")[0] for hit in hits} <= CLIENTS, sorted(hits)


def test_no_module_but_the_two_clients_sends_a_request() -> None:
    outside = {
        path: found
        for path, text in _sources()
        if path not in CLIENTS
        for found in [_senders(ast.parse(text)) + _http_imports(ast.parse(text))]
        if found
    }
    assert outside == {}


def test_the_broader_check_sees_the_clients_own_sends() -> None:
    """The checks above cannot pass by looking at nothing: they see the sends that exist."""
    seen = {path: _senders(ast.parse(text)) for path, text in _sources() if path in CLIENTS}
    assert all(seen.values()), seen
    sample = ast.parse(
        "import requests\n"
        "requests.get(url)\n"
        "self.requests_session.send(prepared)\n"
        "requests.Session().post(url)\n"
        "mapping.get('key')\n"
    )
    assert len(_senders(sample)) == 3
    assert _http_imports(ast.parse("from urllib.request import urlopen\nimport urllib.parse\n"))


def _header_literals(tree: ast.AST, header: str) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.strip().lower() == header
    ]


def test_one_retry_after_rule_for_tap_target_and_discovery() -> None:
    """Only crm_api.retry reads the Retry-After header (``retry_after_seconds``: seconds or
    an HTTP date); the tap's SDK sessions, the target's client and discovery's request_json
    all send through PipedriveSession and _send_with_retry, which call it (their answers to an
    HTTP-date Retry-After: tests/unit/test_pipedrive_client.py)."""
    readers = {
        path: lines
        for path, text in _sources()
        for lines in [_header_literals(ast.parse(text), "retry-after")]
        if lines
    }
    assert set(readers) == {"crm_api/retry.py"}, readers
