"""Every endpoint the sandbox answers: method, path template (the counters' name), handler, and
its daily-budget token cost (research §7)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from crm_sandbox.pipedrive.fields import ENTITY_OF_FIELDS_PATH

V2_ENTITIES = ("deals", "persons", "organizations", "activities", "products")
FOLLOWED = ("deals", "persons", "organizations", "products")


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    template: str
    handler: str
    cost: int
    entity: str = ""
    public: bool = False  # OAuth endpoints: no API auth, no rate limits


def _route(
    method: str, template: str, handler: str, cost: int, entity: str = "", public: bool = False
) -> Route:
    regex = re.escape(template)
    regex = regex.replace(r"\{id\}", r"(?P<id>\d+)").replace(
        r"\{follower_id\}", r"(?P<follower_id>\d+)"
    )
    regex = regex.replace(r"\{field_code\}", r"(?P<field_code>[^/]+)")
    regex = regex.replace(r"\{lead_id\}", r"(?P<lead_id>[0-9a-fA-F-]+)")
    return Route(method, re.compile(regex), template, handler, cost, entity, public)


def _routes() -> list[Route]:
    r: list[Route] = [
        _route("GET", "/api/v2/deals/archived", "list_v2", 20, "deals"),
        _route("GET", "/api/v2/deals/products", "deals_products", 10, "deals"),
        _route("GET", "/api/v2/deals/{id}/products", "deal_products", 10, "deals"),
        _route("GET", "/api/v2/deals/installments", "installments", 10, "deals"),
    ]
    for e in V2_ENTITIES:
        base = f"/api/v2/{e}"
        r += [
            _route("GET", base, "list_v2", 10, e),
            _route("POST", base, "create", 5, e),
            _route("GET", base + "/{id}", "get_one", 1, e),
            _route("PATCH", base + "/{id}", "update", 5, e),
            _route("DELETE", base + "/{id}", "delete", 3, e),
        ]
    for e in FOLLOWED:
        base = f"/api/v2/{e}/{{id}}/followers"
        r += [
            _route("GET", base, "followers_list", 10, e),
            _route("POST", base, "follower_add", 5, e),
            _route("GET", base + "/changelog", "followers_changelog", 10, e),
            _route("DELETE", base + "/{follower_id}", "follower_delete", 3, e),
        ]
    for e in ("pipelines", "stages"):
        r += [
            _route("GET", f"/api/v2/{e}", "list_v2", 5, e),
            _route("GET", f"/api/v2/{e}/{{id}}", "get_one", 1, e),
        ]
    for path in ENTITY_OF_FIELDS_PATH:
        r += [
            _route("GET", f"/api/v2/{path}", "fields_v2", 10, path),
            _route("GET", f"/api/v2/{path}/{{field_code}}", "field_v2", 1, path),
        ]
    for prefix in ("/v1", "/api/v1"):
        r += [
            _route("GET", prefix + "/notes", "notes_list", 20, "notes"),
            _route("POST", prefix + "/notes", "note_create", 10, "notes"),
            _route("GET", prefix + "/notes/{id}", "note_get", 2, "notes"),
            _route("PUT", prefix + "/notes/{id}", "note_update", 10, "notes"),
            _route("DELETE", prefix + "/notes/{id}", "note_delete", 6, "notes"),
            _route("GET", prefix + "/users", "users_list", 20, "users"),
            _route("GET", prefix + "/users/me", "user_me", 2, "users"),
            _route("GET", prefix + "/users/{id}", "user_get", 2, "users"),
            _route("GET", prefix + "/deals/{id}/flow", "deal_flow", 40, "deals"),
            _route("GET", prefix + "/deals/{id}/changelog", "deal_changelog", 20, "deals"),
            _route("GET", prefix + "/leads", "leads_list", 20, "leads"),
            _route("GET", prefix + "/leads/archived", "leads_list", 20, "leads"),
            _route("GET", prefix + "/leads/{lead_id}", "lead_get", 2, "leads"),
            _route("GET", prefix + "/leadLabels", "lead_labels", 10, "lead_labels"),
            _route("GET", prefix + "/leadSources", "lead_sources", 2, "lead_sources"),
            _route("GET", prefix + "/leadFields", "lead_fields", 20, "leadFields"),
            _route("GET", prefix + "/noteFields", "note_fields", 20, "noteFields"),
            _route("GET", prefix + "/activityTypes", "activity_types", 20, "activityTypes"),
            _route("GET", prefix + "/currencies", "currencies", 20, "currencies"),
            _route("GET", prefix + "/filters", "filters_list", 20, "filters"),
            _route("GET", prefix + "/files", "files_list", 20, "files"),
            _route("GET", prefix + "/files/{id}", "file_get", 2, "files"),
        ]
        r += [
            _route("GET", f"{prefix}/{path}", "fields_v1", 20, path)
            for path in ENTITY_OF_FIELDS_PATH
        ]
    r += [
        _route("GET", "/oauth/authorize", "oauth_authorize", 0, public=True),
        _route("POST", "/oauth/token", "oauth_token", 0, public=True),
        _route("POST", "/oauth/revoke", "oauth_revoke", 0, public=True),
    ]
    return r


ROUTES = _routes()
