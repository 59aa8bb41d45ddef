"""crm-sandbox's Pipedrive: the v2 ``include_fields`` extras (served only when asked, with
values that agree with the account's own data) and the newer organization, person and
activity fields (readable and writable), over real HTTP."""

from __future__ import annotations

from typing import Any

import requests

from crm_sandbox.testing import SandboxHandle


def get(sb: SandboxHandle, path: str, **params: Any) -> requests.Response:
    return requests.get(
        sb.pipedrive_url + path, params=params, headers={"x-api-token": sb.api_token}, timeout=60
    )


def send(sb: SandboxHandle, method: str, path: str, body: Any) -> requests.Response:
    return requests.request(
        method,
        sb.pipedrive_url + path,
        json=body,
        headers={"x-api-token": sb.api_token},
        timeout=60,
    )


def every(sb: SandboxHandle, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": 500, **params}
    while True:
        body = get(sb, path, **query).json()
        items += body["data"]
        cursor = body["additional_data"]["next_cursor"]
        if not cursor:
            return items
        query["cursor"] = cursor


def asked(sb: SandboxHandle) -> int:
    return sb.counters()["events"].get("include_fields_requests", 0)


def test_extras_appear_only_when_asked(sandbox: SandboxHandle) -> None:
    plain = get(sandbox, "/api/v2/deals", limit=5).json()["data"]
    assert all("activities_count" not in d and "source_lead_id" not in d for d in plain)
    assert asked(sandbox) == 0
    with_extras = get(
        sandbox, "/api/v2/deals", limit=5, include_fields="activities_count,source_lead_id"
    ).json()["data"]
    assert all("activities_count" in d and "source_lead_id" in d for d in with_extras)
    assert all("products_count" not in d for d in with_extras)  # only what was named
    assert asked(sandbox) == 1
    one = get(sandbox, "/api/v2/organizations/1", include_fields="people_count").json()["data"]
    assert isinstance(one["people_count"], int)
    assert "people_count" not in get(sandbox, "/api/v2/organizations/1").json()["data"]


def test_a_name_the_entity_does_not_have_is_a_400_that_names_it(sandbox: SandboxHandle) -> None:
    answer = get(sandbox, "/api/v2/deals", include_fields="people_count")
    assert answer.status_code == 400
    assert "'people_count' is not allowed" in answer.json()["error"]
    assert get(sandbox, "/api/v2/activities", include_fields="notes_count").status_code == 400


def test_counts_agree_with_the_related_lists(sandbox: SandboxHandle) -> None:
    extras = (
        "activities_count,done_activities_count,undone_activities_count,next_activity_id,"
        "products_count,first_won_time"
    )
    deals = [  # every deal that is not deleted: the live list plus the archived one
        *every(sandbox, "/api/v2/deals", status="open,won,lost", include_fields=extras),
        *every(sandbox, "/api/v2/deals/archived", status="open,won,lost", include_fields=extras),
    ]
    activities = every(sandbox, "/api/v2/activities")
    for deal in deals:
        own = [a for a in activities if a["deal_id"] == deal["id"]]
        assert deal["activities_count"] == len(own)
        assert deal["done_activities_count"] == sum(a["done"] for a in own)
        assert deal["undone_activities_count"] == sum(not a["done"] for a in own)
        undone = sorted(
            (a for a in own if not a["done"]), key=lambda a: (a["due_date"] or "9999", a["id"])
        )
        assert deal["next_activity_id"] == (undone[0]["id"] if undone else None)
        products = get(sandbox, f"/api/v2/deals/{deal['id']}/products").json()["data"]
        assert deal["products_count"] == len(products)
        assert (deal["first_won_time"] is not None) == (deal["status"] == "won")
    persons = every(sandbox, "/api/v2/persons", include_fields="won_deals_count,open_deals_count")
    for person in persons:
        own = [d for d in deals if d["person_id"] == person["id"]]
        assert person["won_deals_count"] == sum(d["status"] == "won" for d in own)
        assert person["open_deals_count"] == sum(d["status"] == "open" for d in own)
    orgs = every(sandbox, "/api/v2/organizations", include_fields="people_count")
    assert sum(o["people_count"] for o in orgs) == sum(1 for p in persons if p["org_id"])


def test_counts_follow_writes(sandbox: SandboxHandle) -> None:
    org = send(sandbox, "POST", "/api/v2/organizations", {"name": "Zähler AG"}).json()["data"]
    person = send(
        sandbox, "POST", "/api/v2/persons", {"name": "Ada Zähler", "org_id": org["id"]}
    ).json()["data"]
    deal = send(
        sandbox, "POST", "/api/v2/deals", {"title": "Count me", "person_id": person["id"]}
    ).json()["data"]
    for subject, done in (("first", False), ("second", True)):
        send(
            sandbox,
            "POST",
            "/api/v2/activities",
            {"subject": subject, "type": "call", "deal_id": deal["id"], "done": done},
        )
    shown = get(
        sandbox, f"/api/v2/deals/{deal['id']}", include_fields="activities_count,first_won_time"
    ).json()["data"]
    assert shown["activities_count"] == 2
    assert shown["first_won_time"] is None
    send(sandbox, "PATCH", f"/api/v2/deals/{deal['id']}", {"status": "won"})
    send(sandbox, "PATCH", f"/api/v2/deals/{deal['id']}", {"status": "open"})
    reopened = get(sandbox, f"/api/v2/deals/{deal['id']}", include_fields="first_won_time")
    assert reopened.json()["data"]["first_won_time"] is not None  # won once, then reopened
    counted = get(
        sandbox, f"/api/v2/persons/{person['id']}", include_fields="open_deals_count"
    ).json()["data"]
    assert counted["open_deals_count"] == 1
    people = get(sandbox, f"/api/v2/organizations/{org['id']}", include_fields="people_count")
    assert people.json()["data"]["people_count"] == 1


def test_newer_fields_are_readable_and_writable(sandbox: SandboxHandle) -> None:
    org_fields = {
        "website": "https://zahler.example",
        "linkedin": "https://www.linkedin.com/company/zahler",
        "industry": "Manufacturing",
        "annual_revenue": 1250000.5,
        "employee_count": 42,
    }
    org = send(sandbox, "POST", "/api/v2/organizations", {"name": "Zähler", **org_fields})
    assert org.status_code == 200, org.text
    shown = get(sandbox, f"/api/v2/organizations/{org.json()['data']['id']}").json()["data"]
    assert {k: shown[k] for k in org_fields} == org_fields
    person_fields = {
        "job_title": "Einkäuferin",
        "birthday": "1984-02-29",
        "notes": "Met at the fair",
        "im": [{"value": "ada.z", "primary": True, "label": "skype"}],
        "postal_address": {"value": "Via Roma 1, 20121 Milano"},
    }
    person = send(sandbox, "POST", "/api/v2/persons", {"name": "Ada", **person_fields})
    assert person.status_code == 200, person.text
    read = get(sandbox, f"/api/v2/persons/{person.json()['data']['id']}").json()["data"]
    assert read["job_title"] == "Einkäuferin"
    assert read["birthday"] == "1984-02-29"
    assert read["im"] == person_fields["im"]
    assert read["postal_address"]["value"] == "Via Roma 1, 20121 Milano"
    bad = send(sandbox, "PATCH", "/api/v2/organizations/1", {"employee_count": "many"})
    assert bad.status_code == 400
    assert "employee_count" in bad.json()["error"]
    count = send(sandbox, "PATCH", "/api/v2/persons/1", {"won_deals_count": 3})
    assert count.status_code == 400  # computed by Pipedrive, not writable


def test_activity_outcome_and_attendees(sandbox: SandboxHandle) -> None:
    attendees = [{"email": "guest@x.test", "name": "Guest", "status": "accepted"}]
    made = send(
        sandbox,
        "POST",
        "/api/v2/activities",
        {"subject": "Demo", "type": "meeting", "outcome": "Interested", "attendees": attendees},
    )
    assert made.status_code == 200, made.text
    rid = made.json()["data"]["id"]
    plain = get(sandbox, f"/api/v2/activities/{rid}").json()["data"]
    assert plain["outcome"] == "Interested"
    assert "attendees" not in plain  # an include_fields extra: only when asked
    shown = get(sandbox, f"/api/v2/activities/{rid}", include_fields="attendees").json()["data"]
    assert shown["attendees"] == [
        {"email": "guest@x.test", "name": "Guest", "status": "accepted", "is_organizer": False,
         "person_id": None, "user_id": None}
    ]  # fmt: skip


def test_without_contact_sync_persons_lack_those_fields_and_refuse_them(
    sandbox: SandboxHandle,
) -> None:
    sandbox.control("POST", "/pipedrive/features", {"contact_sync": False})
    listed = get(sandbox, "/api/v2/persons", limit=5).json()["data"]
    one = get(sandbox, "/api/v2/persons/1").json()["data"]
    for person in [*listed, one]:
        assert not {"im", "birthday", "job_title", "notes", "postal_address"} & set(person)
        assert "emails" in person
    refused = send(sandbox, "PATCH", "/api/v2/persons/1", {"job_title": "CTO"})
    assert refused.status_code == 403
    assert "Contact-sync fields" in refused.json()["error"]
    assert send(sandbox, "PATCH", "/api/v2/persons/1", {"name": "Still fine"}).status_code == 200
