"""Every endpoint the sandbox answers: method, path template (the counters' name), its
daily-budget token cost (research §7), and which of the ``Endpoints`` answers it.

``ROUTES`` is the API's price list too: ``tests/unit/test_pipedrive_costs_table.py`` holds the
clients' cost table to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crm_sandbox.core import Request, Response
from crm_sandbox.pipedrive.fields import ENTITY_OF_FIELDS_PATH

if TYPE_CHECKING:
    from crm_sandbox.pipedrive.endpoints import Endpoints

Handler = Callable[[Request, str, dict[str, str]], Response]

V2_ENTITIES = ("deals", "persons", "organizations", "activities", "products")
FOLLOWED = ("deals", "persons", "organizations", "products")
METHOD_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE")  # of the Allow header of a 405


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    template: str
    cost: int
    answer: Callable[[Endpoints], Handler]  # picks the handler out of the endpoints
    entity: str = ""
    public: bool = False  # OAuth endpoints: no API auth, no rate limits


def _route(
    method: str,
    template: str,
    cost: int,
    answer: Callable[[Endpoints], Handler],
    entity: str = "",
    public: bool = False,
) -> Route:
    regex = re.escape(template)
    regex = regex.replace(r"\{id\}", r"(?P<id>\d+)").replace(
        r"\{follower_id\}", r"(?P<follower_id>\d+)"
    )
    regex = regex.replace(r"\{field_code\}", r"(?P<field_code>[^/]+)")
    regex = regex.replace(r"\{lead_id\}", r"(?P<lead_id>[0-9a-fA-F-]+)")
    return Route(method, re.compile(regex), template, cost, answer, entity, public)


def _routes() -> list[Route]:
    r: list[Route] = [
        _route("GET", "/api/v2/deals/archived", 20, lambda e: e.lists.page, "deals"),
        _route("GET", "/api/v2/deals/products", 10, lambda e: e.deal_children.of_deals),
        _route("GET", "/api/v2/deals/{id}/products", 10, lambda e: e.deal_children.of_deal),
        _route("GET", "/api/v2/deals/installments", 10, lambda e: e.deal_children.installments),
    ]
    for entity in V2_ENTITIES:
        base = f"/api/v2/{entity}"
        r += [
            _route("GET", base, 10, lambda e: e.lists.page, entity),
            _route("POST", base, 5, lambda e: e.records.create, entity),
            _route("GET", base + "/{id}", 1, lambda e: e.records.get, entity),
            _route("PATCH", base + "/{id}", 5, lambda e: e.records.update, entity),
            _route("DELETE", base + "/{id}", 3, lambda e: e.records.delete, entity),
        ]
    for entity in FOLLOWED:
        base = f"/api/v2/{entity}/{{id}}/followers"
        r += [
            _route("GET", base, 10, lambda e: e.followers.current, entity),
            _route("POST", base, 5, lambda e: e.followers.add, entity),
            _route("GET", base + "/changelog", 10, lambda e: e.followers.changelog, entity),
            _route("DELETE", base + "/{follower_id}", 3, lambda e: e.followers.remove, entity),
        ]
    for entity in ("pipelines", "stages"):
        r += [
            _route("GET", f"/api/v2/{entity}", 5, lambda e: e.lists.page, entity),
            _route("GET", f"/api/v2/{entity}/{{id}}", 1, lambda e: e.records.get, entity),
        ]
    for path in ENTITY_OF_FIELDS_PATH:
        r += [
            _route("GET", f"/api/v2/{path}", 10, lambda e: e.fields.v2_list, path),
            _route("GET", f"/api/v2/{path}/{{field_code}}", 1, lambda e: e.fields.v2_one, path),
        ]
    for prefix in ("/v1", "/api/v1"):
        r += [
            _route("GET", prefix + "/notes", 20, lambda e: e.notes.page),
            _route("POST", prefix + "/notes", 10, lambda e: e.notes.create),
            _route("GET", prefix + "/notes/{id}", 2, lambda e: e.notes.get),
            _route("PUT", prefix + "/notes/{id}", 10, lambda e: e.notes.update),
            _route("DELETE", prefix + "/notes/{id}", 6, lambda e: e.notes.delete),
            _route("GET", prefix + "/users", 20, lambda e: e.users.all),
            _route("GET", prefix + "/users/me", 2, lambda e: e.users.me),
            _route("GET", prefix + "/users/{id}", 2, lambda e: e.users.get),
            _route("GET", prefix + "/deals/{id}/flow", 40, lambda e: e.deal_history.flow),
            _route("GET", prefix + "/deals/{id}/changelog", 20, lambda e: e.deal_history.changelog),
            _route("GET", prefix + "/leads", 20, lambda e: e.leads.page),
            _route("GET", prefix + "/leads/archived", 20, lambda e: e.leads.page),
            _route("GET", prefix + "/leads/{lead_id}", 2, lambda e: e.leads.get),
            _route("GET", prefix + "/leadLabels", 10, lambda e: e.leads.labels),
            _route("GET", prefix + "/leadSources", 2, lambda e: e.leads.sources),
            _route("GET", prefix + "/leadFields", 20, lambda e: e.catalog.lead_fields),
            _route("GET", prefix + "/noteFields", 20, lambda e: e.catalog.note_fields),
            _route("GET", prefix + "/activityTypes", 20, lambda e: e.catalog.activity_types),
            _route("GET", prefix + "/currencies", 20, lambda e: e.catalog.currencies),
            _route("GET", prefix + "/filters", 20, lambda e: e.catalog.filters),
            _route("GET", prefix + "/files", 20, lambda e: e.files.page),
            _route("GET", prefix + "/files/{id}", 2, lambda e: e.files.get),
        ]  # fmt: skip
        r += [
            _route("GET", f"{prefix}/{path}", 20, lambda e: e.fields.v1_list, path)
            for path in ENTITY_OF_FIELDS_PATH
        ]
    r += [
        _route("GET", "/oauth/authorize", 0, lambda e: e.oauth.authorize, public=True),
        _route("POST", "/oauth/token", 0, lambda e: e.oauth.token, public=True),
        _route("POST", "/oauth/revoke", 0, lambda e: e.oauth.revoke, public=True),
    ]
    return r


ROUTES = _routes()


class RouteTable:
    """The routes, each bound to the handler that answers it."""

    def __init__(self, endpoints: Endpoints) -> None:
        self._bound = [(route, route.answer(endpoints)) for route in ROUTES]

    def match(self, method: str, path: str) -> tuple[Route, Handler, dict[str, str]] | list[str]:
        """The route, its handler and path parameters; or, for no match, the methods the path
        takes (empty: an unknown path)."""
        path = path.rstrip("/") or "/"
        allowed: set[str] = set()
        for route, handler in self._bound:
            m = route.pattern.fullmatch(path)
            if m is None:
                continue
            if route.method == method:
                return route, handler, m.groupdict()
            allowed.add(route.method)
        return [name for name in METHOD_ORDER if name in allowed]
