"""The simulated Pipedrive API, over real HTTP: what a client of the real API would check."""

from __future__ import annotations

import base64
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from crm_sandbox.testing import SandboxHandle


class Client:
    """A tiny Pipedrive client for the tests: token header, JSON, full cursor walks."""

    def __init__(self, sb: SandboxHandle) -> None:
        self.sb = sb
        self.http = requests.Session()
        self.http.headers["x-api-token"] = sb.api_token

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.http.get(self.sb.pipedrive_url + path, params=params, timeout=30)

    def ok(self, path: str, **params: Any) -> Any:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def send(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.http.request(method, self.sb.pipedrive_url + path, json=body, timeout=30)

    def walk(self, path: str, between_pages: Any = None, **params: Any) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.ok(path, **params, **({"cursor": cursor} if cursor else {}))
            assert page["success"] is True
            records += page["data"]
            cursor = page["additional_data"]["next_cursor"]
            if cursor is None:
                return records
            if between_pages:
                between_pages(records)

    def raw(self, entity: str, rid: int) -> dict[str, Any]:
        answer: dict[str, Any] = self.sb.control("GET", f"/pipedrive/records/{entity}/{rid}")
        return answer

    def all_raw(self, entity: str) -> list[dict[str, Any]]:
        ids = self.sb.control("GET", f"/pipedrive/ids/{entity}")["ids"]
        return [self.raw(entity, rid) for rid in ids]


@pytest.fixture
def pd(sandbox: SandboxHandle) -> Client:
    return Client(sandbox)


def sandbox_now(sb: SandboxHandle) -> str:
    now = datetime.fromisoformat(sb.control("GET", "/clock")["now"].replace("Z", "+00:00"))
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def assert_stamped_since(sb: SandboxHandle, before: str, value: str) -> None:
    """``value`` is a sandbox-clock time between ``before`` and now (a busy machine may cross
    a second boundary between a write and the test's own clock read)."""
    assert before <= value <= sandbox_now(sb)


def live_deal_ids(pd: Client) -> set[int]:
    return {d["id"] for d in pd.all_raw("deals") if not d["is_deleted"] and not d["is_archived"]}


# ---- lists and pagination ---------------------------------------------------------------
def test_deal_pages_hold_every_live_deal_once(pd: Client) -> None:
    deals = pd.walk("/api/v2/deals", limit=7)
    ids = [d["id"] for d in deals]
    assert len(ids) == len(set(ids))
    assert set(ids) == live_deal_ids(pd)
    assert ids == sorted(ids)


def test_update_time_pages_never_skip_records_sharing_a_second(pd: Client) -> None:
    deals = pd.walk("/api/v2/deals", sort_by="update_time", limit=3)
    seconds = Counter(d["update_time"] for d in deals)
    assert max(seconds.values()) >= 3, "the seed data must have many deals in one second"
    assert sorted(d["id"] for d in deals) == sorted(live_deal_ids(pd))
    keys = [(d["update_time"], d["id"]) for d in deals]
    assert keys == sorted(keys)
    descending = pd.walk("/api/v2/deals", sort_by="update_time", sort_direction="desc", limit=4)
    assert [(d["update_time"], d["id"]) for d in descending] == sorted(keys, reverse=True)


def test_writes_between_pages_neither_skip_nor_repeat_untouched_records(pd: Client) -> None:
    written: set[int] = set()

    def patch_one(seen: list[dict[str, Any]]) -> None:
        victim = seen[len(seen) // 2]["id"]
        written.add(victim)
        assert pd.send("PATCH", f"/api/v2/deals/{victim}", {"value": 1.5}).status_code == 200

    by_time = pd.walk("/api/v2/deals", between_pages=patch_one, sort_by="update_time", limit=5)
    counts = Counter(d["id"] for d in by_time)
    assert set(counts) == live_deal_ids(pd)
    assert all(n == 1 for rid, n in counts.items() if rid not in written)
    # a deal changed during the walk comes back at the end, with its new update_time
    assert by_time[-1]["id"] in written
    assert by_time[-1]["value"] == 1.5
    by_id = pd.walk("/api/v2/deals", between_pages=patch_one, limit=5)
    assert sorted(d["id"] for d in by_id) == sorted(live_deal_ids(pd))


def test_updated_since_is_inclusive_and_updated_until_exclusive(pd: Client) -> None:
    everything = pd.walk("/api/v2/persons", sort_by="update_time", limit=500)
    pivot = everything[len(everything) // 2]["update_time"]
    since = pd.walk("/api/v2/persons", updated_since=pivot, limit=500)
    until = pd.walk("/api/v2/persons", updated_until=pivot, limit=500)
    assert {p["id"] for p in since} == {p["id"] for p in everything if p["update_time"] >= pivot}
    assert {p["id"] for p in until} == {p["id"] for p in everything if p["update_time"] < pivot}
    assert pivot in {p["update_time"] for p in since}
    with_sort = pd.walk("/api/v2/persons", updated_since=pivot, sort_by="update_time", limit=2)
    assert [p["id"] for p in with_sort] == [
        p["id"] for p in everything if p["update_time"] >= pivot
    ]


def test_filters_ids_owner_status_and_sorts(pd: Client) -> None:
    raw = pd.all_raw("deals")
    wanted = [d["id"] for d in raw[:5]]
    page = pd.ok("/api/v2/deals", ids=",".join(map(str, wanted)), sort_direction="desc")
    expected = [d["id"] for d in raw[:5] if not d["is_deleted"] and not d["is_archived"]]
    assert [d["id"] for d in page["data"]] == sorted(expected, reverse=True)
    owner = raw[0]["owner_id"]
    assert {d["owner_id"] for d in pd.walk("/api/v2/deals", owner_id=owner)} == {owner}
    won = pd.walk("/api/v2/deals", status="won")
    assert won
    assert {d["status"] for d in won} == {"won"}
    stages = pd.walk("/api/v2/stages", sort_by="order_nr")
    assert [s["order_nr"] for s in stages] == sorted(s["order_nr"] for s in stages)
    products = pd.walk("/api/v2/products", sort_by="name")
    names = [p["name"].casefold() for p in products]
    assert names == sorted(names)
    activities = pd.walk("/api/v2/activities", sort_by="due_date", done="true", limit=50)
    assert activities
    assert all(a["done"] for a in activities)
    dated = [a["due_date"] for a in activities]
    assert dated == sorted(dated, key=lambda d: (d is not None, d))  # no date sorts first
    deal = next(d for d in raw if d["person_id"] and not d["is_deleted"])
    persons = pd.ok("/api/v2/persons", deal_id=deal["id"])["data"]
    assert [p["id"] for p in persons] == [deal["person_id"]]
    on_deal = pd.walk("/api/v2/activities", deal_id=deal["id"])
    assert {a["deal_id"] for a in on_deal} <= {deal["id"]}
    assert {a["id"] for a in on_deal} == {
        a["id"]
        for a in pd.all_raw("activities")
        if a["deal_id"] == deal["id"] and not a["is_deleted"]
    }


def test_deleted_and_archived_deals(pd: Client, sandbox: SandboxHandle) -> None:
    raw = pd.all_raw("deals")
    archived = {d["id"] for d in raw if d["is_archived"] and not d["is_deleted"]}
    assert archived, "the seed data must have archived deals"
    assert {d["id"] for d in pd.walk("/api/v2/deals/archived")} == archived
    victim = next(d["id"] for d in raw if not d["is_deleted"] and not d["is_archived"])
    sandbox.advance_clock(120)
    before = sandbox_now(sandbox)
    assert pd.send("DELETE", f"/api/v2/deals/{victim}").json() == {
        "success": True,
        "data": {"id": victim},
    }
    assert victim not in {d["id"] for d in pd.walk("/api/v2/deals")}
    deleted = pd.walk("/api/v2/deals", status="deleted")
    assert victim in {d["id"] for d in deleted}
    assert all(d["is_deleted"] for d in deleted)
    mixed = pd.walk("/api/v2/deals", status="open,won,lost,deleted")
    assert len(mixed) == len(live_deal_ids(pd)) + len(deleted)
    record = pd.ok(f"/api/v2/deals/{victim}")["data"]
    assert record["is_deleted"] is True
    assert_stamped_since(sandbox, before, record["update_time"])
    assert pd.send("PATCH", f"/api/v2/deals/{victim}", {"title": "x"}).status_code == 404


# ---- writes -----------------------------------------------------------------------------
def test_create_and_update_set_update_time_and_show_in_lists(
    pd: Client, sandbox: SandboxHandle
) -> None:
    fields = pd.walk("/api/v2/dealFields")
    score = next(f for f in fields if f["field_name"] == "Lead score")
    industry = next(f for f in fields if f["field_name"] == "Industry")
    sandbox.advance_clock(3600)
    before = sandbox_now(sandbox)
    created = pd.send(
        "POST",
        "/api/v2/deals",
        {"title": "Zoë's Ångström deal", "value": 1234.56, "currency": "EUR",
         "custom_fields": {score["field_code"]: 7.5}},
    )  # fmt: skip
    assert created.status_code == 200
    deal = created.json()["data"]
    assert deal["title"] == "Zoë's Ångström deal"
    assert deal["custom_fields"][score["field_code"]] == 7.5
    assert deal["add_time"] == deal["update_time"]
    assert_stamped_since(sandbox, before, deal["update_time"])
    sandbox.advance_clock(60)
    before = sandbox_now(sandbox)
    option = industry["options"][1]["id"]
    patched = pd.send(
        "PATCH",
        f"/api/v2/deals/{deal['id']}",
        {"status": "won", "custom_fields": {industry["field_code"]: option}},
    ).json()["data"]
    assert patched["update_time"] != deal["update_time"]
    assert_stamped_since(sandbox, before, patched["update_time"])
    assert patched["status"] == "won"
    assert patched["won_time"] == patched["update_time"]
    assert patched["custom_fields"][industry["field_code"]] == option
    assert patched["custom_fields"][score["field_code"]] == 7.5  # untouched custom field kept
    newest = pd.ok("/api/v2/deals", sort_by="update_time", sort_direction="desc", limit=1)["data"][
        0
    ]
    assert newest == patched
    assert sandbox.counters()["events"]["writes"] == 2


def test_every_entity_can_be_created_updated_and_deleted(pd: Client) -> None:
    bodies = {
        "persons": ({"name": "Zoë Ångström", "emails": [{"value": "zoe@x.test"}]}, {"org_id": 2}),
        "organizations": ({"name": "渡辺商事", "address": {"value": "Tokyo"}}, {"visible_to": 7}),
        "activities": (
            {"subject": "Call", "deal_id": 2, "participants": [{"person_id": 4, "primary": True}]},
            {"done": True, "due_time": "10:30"},
        ),
        "products": (
            {"name": "Widget", "prices": [{"price": 9.5, "currency": "EUR"}]},
            {"tax": 19},
        ),
    }
    for entity, (create, change) in bodies.items():
        made = pd.send("POST", f"/api/v2/{entity}", create)
        assert made.status_code == 200, made.text
        rid = made.json()["data"]["id"]
        changed = pd.send("PATCH", f"/api/v2/{entity}/{rid}", change).json()["data"]
        assert all(changed[k] == (v if k != "due_time" else "10:30:00") for k, v in change.items())
        assert rid in {r["id"] for r in pd.walk(f"/api/v2/{entity}", sort_by="update_time")}
        assert pd.send("DELETE", f"/api/v2/{entity}/{rid}").status_code == 200
        assert rid not in {r["id"] for r in pd.walk(f"/api/v2/{entity}")}
        assert pd.ok(f"/api/v2/{entity}/{rid}")["data"]["is_deleted"] is True
    person = pd.raw("persons", len(pd.sb.control("GET", "/pipedrive/ids/persons")["ids"]))
    assert person["emails"] == [{"value": "zoe@x.test", "primary": True, "label": "work"}]
    activity = pd.raw("activities", len(pd.sb.control("GET", "/pipedrive/ids/activities")["ids"]))
    assert activity["person_id"] == 4
    assert activity["marked_as_done_time"] == activity["update_time"]


def test_custom_fields_parameter_limits_the_keys(pd: Client) -> None:
    key = next(f["field_code"] for f in pd.walk("/api/v2/personFields") if f["is_custom_field"])
    people = pd.ok("/api/v2/persons", custom_fields=key, limit=5)["data"]
    assert people
    assert all(set(p["custom_fields"]) == {key} for p in people)


def test_bad_write_bodies_are_refused(pd: Client) -> None:
    fields = pd.walk("/api/v2/dealFields")
    key = next(f["field_code"] for f in fields if f["is_custom_field"])
    top_level = pd.send("PATCH", "/api/v2/deals/1", {key: "x"})
    assert top_level.status_code == 400
    assert top_level.json()["code"] == "ERR_SCHEMA_VALIDATION_FAILED"
    assert key in top_level.json()["error"]
    assert pd.send("POST", "/api/v2/deals", {"value": 5}).status_code == 400  # title required
    assert pd.send("PATCH", "/api/v2/deals/1", {"value": "5"}).status_code == 400
    assert pd.send("PATCH", "/api/v2/deals/1", {"person_id": 10**6}).status_code == 400
    assert pd.send("PATCH", "/api/v2/persons/1", {"visible_to": "3"}).status_code == 400
    assert pd.send("PATCH", "/api/v2/deals/999999", {"title": "x"}).status_code == 404


def test_bad_list_parameters_get_400(pd: Client) -> None:
    for params in (
        {"limit": "501"},
        {"limit": "0"},
        {"updated_since": "2024-01-01T00:00:00.000Z"},
        {"updated_since": "2024-01-01"},
        {"sort_by": "title"},
        {"sort_direction": "up"},
        {"status": "open,closed"},
        {"ids": "1,x"},
        {"cursor": "not-a-cursor"},
        {"owner_id": "me"},
    ):
        response = pd.get("/api/v2/deals", **params)
        assert response.status_code == 400, params
        body = response.json()
        assert body["success"] is False
        assert body["code"] == "ERR_SCHEMA_VALIDATION_FAILED"
        assert body["error"].startswith("Validation failed: ")


# ---- followers --------------------------------------------------------------------------
def test_followers_add_delete_and_changelog(pd: Client, sandbox: SandboxHandle) -> None:
    seeded = [pd.ok(f"/api/v2/persons/{rid}/followers/changelog")["data"] for rid in range(1, 16)]
    assert sum(1 for log in seeded if log) >= 3
    assert max(len(log) for log in seeded) >= 2
    deal = 3
    before = pd.ok(f"/api/v2/deals/{deal}/followers")["data"]
    user = next(u for u in range(1, 11) if u not in {f["user_id"] for f in before})
    sandbox.advance_clock(10)
    since = sandbox_now(sandbox)
    added = pd.send("POST", f"/api/v2/deals/{deal}/followers", {"user_id": user})
    assert added.status_code == 201
    assert added.json()["data"]["user_id"] == user
    again = pd.send("POST", f"/api/v2/deals/{deal}/followers", {"user_id": user})
    assert again.status_code == 400
    assert user in {f["user_id"] for f in pd.walk(f"/api/v2/deals/{deal}/followers")}
    removed = pd.send("DELETE", f"/api/v2/deals/{deal}/followers/{user}")
    assert removed.json()["data"] == {"user_id": user}
    log = pd.walk(f"/api/v2/deals/{deal}/followers/changelog", limit=1)
    assert [(e["action"], e["follower_user_id"]) for e in log[-2:]] == [
        ("added", user),
        ("removed", user),
    ]
    assert set(log[-1]) == {"action", "actor_user_id", "follower_user_id", "time"}
    assert_stamped_since(sandbox, since, log[-1]["time"])


# ---- v1 notes, users, fields ------------------------------------------------------------
def test_notes_v1_paging_on_both_prefixes(pd: Client) -> None:
    seen: list[dict[str, Any]] = []
    start = 0
    while True:
        page = pd.ok("/v1/notes", start=start, limit=7, sort="update_time DESC")
        seen += page["data"]
        pagination = page["additional_data"]["pagination"]
        assert pagination["start"] == start
        assert pagination["limit"] == 7
        if not pagination["more_items_in_collection"]:
            assert "next_start" not in pagination
            break
        start = pagination["next_start"]
    live = [n for n in pd.all_raw("notes") if n["active_flag"]]
    assert sorted(n["id"] for n in seen) == sorted(n["id"] for n in live)
    times = [n["update_time"] for n in seen]
    assert times == sorted(times, reverse=True)
    assert all(len(t) == 19 and t[10] == " " for t in times)  # v1: "YYYY-MM-DD HH:MM:SS"
    assert (
        pd.ok("/api/v1/notes", start=0, limit=500)["data"] == pd.ok("/v1/notes", limit=500)["data"]
    )
    deal = next(n["deal_id"] for n in live if n["deal_id"])
    assert {n["deal_id"] for n in pd.ok("/v1/notes", deal_id=deal)["data"]} == {deal}


def test_notes_v1_sorts_and_updated_since(pd: Client) -> None:
    live = [n for n in pd.all_raw("notes") if n["active_flag"]]
    pivot = sorted(n["update_time"] for n in live)[len(live) // 2]
    since = pivot.replace(" ", "T") + "Z"
    recent = [n for n in live if n["update_time"] >= pivot]
    for sort, order in (
        ("update_time ASC, id ASC", sorted(recent, key=lambda n: (n["update_time"], n["id"]))),
        (
            "update_time DESC",
            sorted(recent, key=lambda n: (n["update_time"], n["id"]), reverse=True),
        ),
        ("deal_id DESC, id ASC", sorted(recent, key=lambda n: (-(n["deal_id"] or 0), n["id"]))),
    ):
        first = pd.ok("/v1/notes", sort=sort, updated_since=since, limit=5)
        rest = pd.ok("/v1/notes", sort=sort, updated_since=since, start=5, limit=500)
        got = [n["id"] for n in first["data"] + rest["data"]]
        assert got == [n["id"] for n in order], sort


def test_notes_v1_create_update_and_updated_since(pd: Client, sandbox: SandboxHandle) -> None:
    sandbox.advance_clock(3600)
    since = sandbox_now(sandbox)
    created = pd.send("POST", "/v1/notes", {"content": "<p>Grüße</p>", "deal_id": 1})
    assert created.status_code == 201
    note = created.json()["data"]
    assert note["deal_id"] == 1
    assert note["deal"]["title"]
    assert note["active_flag"] is True
    updated = pd.send("PUT", f"/api/v1/notes/{note['id']}", {"content": "<p>edited</p>"}).json()[
        "data"
    ]
    assert updated["content"] == "<p>edited</p>"
    recent = pd.ok("/v1/notes", updated_since=since)["data"]
    assert [n["id"] for n in recent] == [note["id"]]
    assert pd.send("POST", "/v1/notes", {"content": "orphan"}).status_code == 400
    bad = pd.get("/v1/notes", limit="0")
    assert bad.status_code == 400
    assert bad.json()["success"] is False


def test_users_and_fields(pd: Client) -> None:
    users = pd.ok("/v1/users")["data"]
    assert 10 <= len(users) <= 50
    assert pd.ok("/api/v1/users")["data"] == users
    v2 = pd.walk("/api/v2/dealFields", limit=10)
    customs = [f for f in v2 if f["is_custom_field"]]
    assert {f["field_name"] for f in customs} >= {"Lead score", "Lead-Score"}
    assert all(len(f["field_code"]) == 40 for f in customs)
    types = {f["field_type"] for f in customs}
    assert types >= {"varchar", "text", "double", "monetary", "enum", "set", "date", "user",
                     "org", "people", "phone", "address", "time", "daterange"}  # fmt: skip
    enum = next(f for f in customs if f["field_type"] == "enum")
    assert enum["options"]
    assert set(enum["options"][0]) == {"id", "label"}
    deal = pd.ok("/api/v2/deals/1")["data"]
    assert set(deal["custom_fields"]) == {f["field_code"] for f in customs}
    v1 = pd.ok("/v1/dealFields", limit=500)["data"]
    assert {f["key"] for f in v1 if f["edit_flag"]} == {f["field_code"] for f in customs}
    for path in ("personFields", "organizationFields", "productFields", "activityFields"):
        assert pd.walk(f"/api/v2/{path}")
        assert pd.ok(f"/v1/{path}")["data"]


# ---- auth -------------------------------------------------------------------------------
def test_missing_or_wrong_token_gets_401(sandbox: SandboxHandle) -> None:
    url = sandbox.pipedrive_url + "/api/v2/deals"
    for headers in ({}, {"x-api-token": "wrong"}, {"Authorization": "Bearer nope"}):
        response = requests.get(url, headers=headers, timeout=30)
        assert response.status_code == 401
        assert response.json() == {
            "success": False,
            "error": "unauthorized access",
            "errorCode": 401,
            "error_info": "Please check developers.pipedrive.com",
        }
    query = requests.get(url, params={"api_token": sandbox.api_token}, timeout=30)
    assert query.status_code == 200


def test_oauth_code_refresh_rotation_and_expiry(sandbox: SandboxHandle) -> None:
    sandbox.configure(access_token_ttl=600)
    base = sandbox.pipedrive_url
    redirect = requests.get(
        base + "/oauth/authorize",
        params={
            "client_id": sandbox.client_id,
            "redirect_uri": "http://127.0.0.1/cb",
            "state": "s1",
        },
        allow_redirects=False,
        timeout=30,
    )
    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["Location"])
    query = parse_qs(location.query)
    assert location.path == "/cb"
    assert query["state"] == ["s1"]
    auth = (sandbox.client_id, sandbox.client_secret)
    token = requests.post(
        base + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": "http://127.0.0.1/cb",
        },
        auth=auth,
        timeout=30,
    ).json()
    assert token["api_domain"] == base
    assert token["expires_in"] == 600
    assert token["token_type"] == "Bearer"

    def deals(access: str) -> int:
        headers = {"Authorization": f"Bearer {access}"}
        return requests.get(base + "/api/v2/deals", headers=headers, timeout=30).status_code

    assert deals(token["access_token"]) == 200
    sandbox.advance_clock(601)
    assert deals(token["access_token"]) == 401
    refreshed = requests.post(
        base + "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=auth,
        timeout=30,
    )
    assert refreshed.status_code == 200
    new = refreshed.json()
    assert new["refresh_token"] != token["refresh_token"]
    assert deals(new["access_token"]) == 200
    reused = requests.post(
        base + "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=auth,
        timeout=30,
    )
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    wrong_client = requests.post(
        base + "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": new["refresh_token"]},
        auth=(sandbox.client_id, "wrong"),
        timeout=30,
    )
    assert wrong_client.status_code == 401
    basic = base64.b64encode(f"{sandbox.client_id}:{sandbox.client_secret}".encode()).decode()
    revoked = requests.post(
        base + "/oauth/revoke",
        data={"token": new["refresh_token"], "token_type_hint": "refresh_token"},
        headers={"Authorization": f"Basic {basic}"},
        timeout=30,
    )
    assert revoked.status_code == 200
    assert deals(new["access_token"]) == 401


# ---- rate limits ------------------------------------------------------------------------
def test_burst_limit_headers_429_and_retry_after(pd: Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(burst_limit=3)
    responses = [pd.get("/api/v2/pipelines") for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    first, limited = responses[0], responses[-1]
    assert first.headers["x-ratelimit-limit"] == "3"
    assert first.headers["x-ratelimit-remaining"] == "2"
    assert "x-ratelimit-reset" in first.headers
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["success"] is False
    assert limited.json()["errorCode"] == 429
    assert sandbox.counters()["events"]["rate_limited"] == 1


def test_hammering_after_429_gets_cloudflare_403(pd: Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(burst_limit=1)
    statuses = [pd.get("/api/v2/stages").status_code for _ in range(13)]
    assert statuses[:2] == [200, 429]
    last = pd.get("/api/v2/stages")
    assert last.status_code == 403
    assert "Cloudflare" in last.text
    assert last.headers["Content-Type"].startswith("text/html")


def test_daily_budget_runs_out_and_resets_next_day(pd: Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(daily_budget=25)
    first = pd.get("/api/v2/deals")  # a v2 list costs 10 tokens
    assert first.headers["x-daily-ratelimit-token-limit"] == "25"
    assert first.headers["x-daily-ratelimit-token-remaining"] == "15"
    assert pd.get("/api/v2/deals/1").headers["x-daily-ratelimit-token-remaining"] == "14"
    assert pd.get("/api/v2/deals").status_code == 200
    spent = pd.get("/api/v2/deals")
    assert spent.status_code == 429
    assert int(spent.headers["Retry-After"]) > 0
    sandbox.advance_clock(86400)
    again = pd.get("/api/v2/deals")
    assert again.status_code == 200
    assert again.headers["x-daily-ratelimit-token-remaining"] == "15"


# ---- determinism, counters, control ------------------------------------------------------
def test_same_seed_same_bytes_other_seed_other_data(pd: Client, sandbox: SandboxHandle) -> None:
    paths = ("/api/v2/deals", "/api/v2/persons", "/v1/notes", "/api/v2/dealFields")

    def snapshot() -> list[bytes]:
        return [pd.get(p, limit=50).content for p in paths]

    first = snapshot()
    sandbox.reset(seed=42)
    assert snapshot() == first
    sandbox.reset(seed=7)
    assert all(a != b for a, b in zip(snapshot(), first, strict=True))


def test_counters_name_the_endpoint_template(pd: Client, sandbox: SandboxHandle) -> None:
    pd.get("/api/v2/deals/2/followers/changelog")
    pd.get("/v1/notes")
    requests_seen = sandbox.counters()["requests"]
    assert requests_seen["pipedrive GET /api/v2/deals/{id}/followers/changelog"] == 1
    assert requests_seen["pipedrive GET /v1/notes"] == 1


def test_touch_simulates_changes_made_in_the_crm(pd: Client, sandbox: SandboxHandle) -> None:
    sandbox.advance_clock(7200)
    since = sandbox_now(sandbox)
    touched = sandbox.control("POST", "/pipedrive/touch", {"entity": "deals", "count": 3})
    assert len(touched["ids"]) == 3
    changed = pd.walk("/api/v2/deals", updated_since=since, status="open,won,lost,deleted")
    assert sorted(d["id"] for d in changed) == sorted(touched["ids"])
    since = sandbox_now(sandbox)
    by_id = sandbox.control("POST", "/pipedrive/touch", {"entity": "persons", "ids": [1, 2]})
    assert by_id["ids"] == [1, 2]
    assert_stamped_since(sandbox, since, pd.raw("persons", 1)["update_time"])
    assert sandbox.counters()["events"].get("writes", 0) == 0  # not an API write
