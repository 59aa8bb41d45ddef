"""The daily-budget token cost of each Pipedrive call (research §7 and the endpoints'
reference pages, as in docs/sandbox.md); ``tests/unit/test_pipedrive_costs_table.py`` checks it
against crm-sandbox's own price list. ``crm_api.pipedrive`` re-exports ``endpoint_cost``."""

from __future__ import annotations

import re
from urllib.parse import urlparse

# (method, path pattern) -> tokens. First match wins: specific before generic.
_COSTS: list[tuple[str, re.Pattern[str], int]] = [
    ("GET", re.compile(r"/api/v2/deals/archived$"), 20),
    ("GET", re.compile(r"/api/v2/deals/(products|installments)$"), 10),
    ("GET", re.compile(r"/api/v2/deals/\d+/products$"), 10),
    ("GET", re.compile(r"/api/v2/\w+/\d+/followers/changelog$"), 10),
    ("GET", re.compile(r"/api/v2/\w+/\d+/followers$"), 10),
    ("GET", re.compile(r"/api/v2/(pipelines|stages)$"), 5),
    ("GET", re.compile(r"/api/v2/\w+/\d+$"), 1),
    ("GET", re.compile(r"/api/v2/\w+$"), 10),
    ("GET", re.compile(r"/(api/)?v1/deals/\d+/flow$"), 40),
    ("GET", re.compile(r"/(api/)?v1/deals/\d+/changelog$"), 20),
    ("GET", re.compile(r"/(api/)?v1/leadLabels$"), 10),
    ("GET", re.compile(r"/(api/)?v1/leadSources$"), 2),
    ("GET", re.compile(r"/(api/)?v1/users/me$"), 2),
    ("GET", re.compile(r"/(api/)?v1/leads/[0-9a-fA-F-]{36}$"), 2),
    ("GET", re.compile(r"/(api/)?v1/\w+/\d+$"), 2),
    ("GET", re.compile(r"/(api/)?v1/"), 20),
    ("POST", re.compile(r"/api/v2/\w+/\d+/followers$"), 5),
    ("POST", re.compile(r"/api/v2/"), 5),
    ("PATCH", re.compile(r"/api/v2/"), 5),
    ("DELETE", re.compile(r"/api/v2/"), 3),
    ("POST", re.compile(r"/(api/)?v1/"), 10),
    ("PUT", re.compile(r"/(api/)?v1/"), 10),
    ("DELETE", re.compile(r"/(api/)?v1/"), 6),
]


def endpoint_cost(method: str, path: str) -> int:
    """Tokens one call costs against the company's daily budget (0 when unknown)."""
    path = urlparse(path).path.rstrip("/")
    for verb, pattern, cost in _COSTS:
        if verb == method.upper() and pattern.search(path):
            return cost
    return 0
