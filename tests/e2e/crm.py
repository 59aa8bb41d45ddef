"""What a user would look at in the CRM after a load: the sandbox's Pipedrive API, read directly."""

from __future__ import annotations

from typing import Any

import requests

from crm_sandbox.testing import SandboxHandle


def pipedrive_list(sandbox: SandboxHandle, entity: str) -> list[dict[str, Any]]:
    """Every record of a v2 list endpoint, page after page."""
    records: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 500}
    while True:
        response = requests.get(
            f"{sandbox.pipedrive_url}/api/v2/{entity}",
            params=params,
            headers={"x-api-token": sandbox.api_token},
            timeout=60,
        )
        response.raise_for_status()
        body = response.json()
        records.extend(body["data"] or [])
        cursor = (body.get("additional_data") or {}).get("next_cursor")
        if not cursor:
            return records
        params["cursor"] = cursor


def primary_email(person: dict[str, Any]) -> str | None:
    emails = [e["value"] for e in person.get("emails") or [] if e.get("primary")]
    return emails[0] if emails else None


def persons_by_email(sandbox: SandboxHandle) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for person in pipedrive_list(sandbox, "persons"):
        email = primary_email(person)
        if email:
            found.setdefault(email, []).append(person)
    return found


def custom_field_key(sandbox: SandboxHandle, entity: str, name: str) -> str:
    """The 40-character key of a custom field from its name (e.g. person "Score")."""
    fields = sandbox.control("GET", "/pipedrive/fields")[entity]
    return next(str(f["key"]) for f in fields if f["name"] == name)
