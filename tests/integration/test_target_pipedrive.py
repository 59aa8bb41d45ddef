"""target-crm writing into the sandbox's Pipedrive over HTTP, checked through its read API."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_sandbox.testing import SandboxHandle
from target_crm.target import LoadFailedError
from tests.integration.test_target_support import (
    counts,
    pd_all,
    pd_custom_key,
    pd_get,
    pd_notes,
    pipedrive_config,
    read_jsonl,
    run_cli,
    run_target,
    schema_of,
    singer,
    writes,
)

PERSON_SCHEMA = schema_of(
    {
        "customer_id": {"type": "string"},
        "id": {"type": ["integer", "null"]},
        "name": {"type": ["string", "null"]},
        "email": {"type": ["string", "null"]},
        "score": {"type": ["number", "null"]},
        "signed_up": {"type": ["string", "null"], "format": "date-time"},
    }
)


def people(n: int, prefix: str = "p") -> list[dict[str, object]]:
    return [
        {"customer_id": f"{prefix}{i}", "name": f"Ada {prefix}{i}", "email": f"{prefix}{i}@x.test"}
        for i in range(n)
    ]


def test_persons_create_then_update_by_crm_id_sends_only_given_fields(
    sandbox: SandboxHandle,
) -> None:
    config = pipedrive_config(sandbox)
    record = {"customer_id": "c1", "name": "Grace Hopper", "email": "grace@x.test", "score": 7.5}
    _, target = run_target(
        config, singer("persons", [record], key_properties=["customer_id"], schema=PERSON_SCHEMA)
    )
    assert counts(target, "persons")["created"] == 1
    (created,) = [p for p in pd_all(sandbox, "persons") if p["name"] == "Grace Hopper"]
    score_key = pd_custom_key(sandbox, "personFields", "Score")
    assert created["emails"][0]["value"] == "grace@x.test"
    assert created["custom_fields"][score_key] == 7.5

    update = {"customer_id": "c1", "id": created["id"], "score": 9}
    _, target = run_target(
        config, singer("persons", [update], key_properties=["customer_id"], schema=PERSON_SCHEMA)
    )
    assert counts(target, "persons")["updated"] == 1
    after = pd_get(sandbox, f"/api/v2/persons/{created['id']}")["data"]
    assert after["custom_fields"][score_key] == 9
    assert after["name"] == "Grace Hopper"  # not in the record: left as it was
    assert after["emails"][0]["value"] == "grace@x.test"


def test_update_of_a_crm_id_that_does_not_exist_is_rejected(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    rejected = tmp_path / "rejected.jsonl"
    config = pipedrive_config(sandbox, rejected_records_path=str(rejected), max_rejected_records=5)
    run_target(config, singer("persons", [{"id": 999999, "name": "Nobody"}]))
    (line,) = read_jsonl(rejected)
    assert "no persons record with id 999999" in line["reason"]
    assert writes(sandbox) == 0


def test_upsert_persons_by_email_updates_the_match_and_creates_the_rest(
    sandbox: SandboxHandle,
) -> None:
    existing = pd_all(sandbox, "persons")[0]
    email = existing["emails"][0]["value"]
    before = len(pd_all(sandbox, "persons"))
    records = [
        {"customer_id": "a", "name": "Renamed Person", "email": email.upper()},  # case differs
        {"customer_id": "b", "name": "Brand New", "email": "brand.new@x.test"},
    ]
    config = pipedrive_config(sandbox, match_keys={"persons": "email"})
    _, target = run_target(
        config, singer("persons", records, key_properties=["customer_id"], schema=PERSON_SCHEMA)
    )
    assert counts(target, "persons") == {"created": 1, "updated": 1, "unchanged": 0, "rejected": 0}
    assert len(pd_all(sandbox, "persons")) == before + 1
    assert pd_get(sandbox, f"/api/v2/persons/{existing['id']}")["data"]["name"] == "Renamed Person"


def test_upsert_organizations_by_name(sandbox: SandboxHandle) -> None:
    existing = pd_all(sandbox, "organizations")[0]
    before = len(pd_all(sandbox, "organizations"))
    records = [
        {"name": existing["name"], "address": {"value": "Via Roma 1, Milano"}},
        {"name": "Zeta Works", "address": {"value": "Main St 5"}},
    ]
    config = pipedrive_config(sandbox, match_keys={"organizations": "name"})
    _, target = run_target(config, singer("organizations", records))
    assert counts(target, "organizations") == {
        "created": 1,
        "updated": 1,
        "unchanged": 0,
        "rejected": 0,
    }
    orgs = pd_all(sandbox, "organizations")
    assert len(orgs) == before + 1
    assert (
        pd_get(sandbox, f"/api/v2/organizations/{existing['id']}")["data"]["address"]["value"]
        == "Via Roma 1, Milano"
    )


def test_an_organization_address_given_as_one_line_is_written(sandbox: SandboxHandle) -> None:
    records = [{"name": "Ångström Works", "address": "Via Roma 1, 20121 Milano"}]
    _, target = run_target(pipedrive_config(sandbox), singer("organizations", records))
    assert counts(target, "organizations")["created"] == 1
    written = next(o for o in pd_all(sandbox, "organizations") if o["name"] == "Ångström Works")
    assert written["address"]["value"] == "Via Roma 1, 20121 Milano"


def test_upsert_deals_by_a_custom_field_readable_name_then_status_and_stage_moves(
    sandbox: SandboxHandle,
) -> None:
    deal = pd_all(sandbox, "deals")[0]
    config = pipedrive_config(sandbox, match_keys={"deals": "referral_code"})
    new = {
        "referral_code": "EXT-0001",
        "title": "Warehouse deal",
        "value": 1200.5,
        "currency": "EUR",
    }
    _, target = run_target(config, singer("deals", [new]))
    assert counts(target, "deals")["created"] == 1
    key = pd_custom_key(sandbox, "dealFields", "Referral code")
    (created,) = [d for d in pd_all(sandbox, "deals") if d["custom_fields"].get(key) == "EXT-0001"]
    assert created["value"] == 1200.5

    # seed 004: "update deal status with lost reason" and "move stage" are ordinary updates
    moves = [
        {"referral_code": "EXT-0001", "status": "lost", "lost_reason": "Budget cut"},
        {"id": deal["id"], "stage_id": deal["stage_id"] + 1 if deal["stage_id"] < 5 else 1},
    ]
    _, target = run_target(config, singer("deals", moves))
    assert counts(target, "deals")["updated"] == 2
    lost = pd_get(sandbox, f"/api/v2/deals/{created['id']}")["data"]
    assert (lost["status"], lost["lost_reason"]) == ("lost", "Budget cut")
    assert (
        pd_get(sandbox, f"/api/v2/deals/{deal['id']}")["data"]["stage_id"] == moves[1]["stage_id"]
    )
    matching = [d for d in pd_all(sandbox, "deals") if d["custom_fields"].get(key) == "EXT-0001"]
    assert len(matching) == 1


def test_a_match_key_that_matches_several_records_rejects_the_record(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    name = pd_all(sandbox, "organizations")[0]["name"]
    config = pipedrive_config(sandbox)
    run_target(config, singer("organizations", [{"name": name}]))  # now two share the name
    rejected = tmp_path / "rejected.jsonl"
    config = pipedrive_config(
        sandbox,
        match_keys={"organizations": "name"},
        rejected_records_path=str(rejected),
        max_rejected_records=1,
    )
    before = writes(sandbox)
    run_target(config, singer("organizations", [{"name": name, "address": {"value": "x"}}]))
    (line,) = read_jsonl(rejected)
    assert "matches 2 organizations records" in line["reason"]
    assert writes(sandbox) == before


def test_activities_and_products_create_update_and_upsert(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    person = pd_all(sandbox, "persons")[0]
    id_map = str(tmp_path / "ids.sqlite")
    config = pipedrive_config(sandbox, id_map_path=id_map, match_keys={"products": "code"})
    activity = {
        "key": "act-1",
        "subject": "Call Ada",
        "type": "call",
        "due_date": "2026-12-01",
        "person_id": person["id"],
        "done": False,
    }
    product = {"code": "SKU-NEW-1", "name": "Widget", "prices": [{"price": 10, "currency": "EUR"}]}
    text = singer("activities", [activity], key_properties=["key"]) + singer("products", [product])
    _, target = run_target(config, text)
    assert counts(target, "activities")["created"] == 1
    assert counts(target, "products")["created"] == 1
    (act,) = [a for a in pd_all(sandbox, "activities") if a["subject"] == "Call Ada"]
    assert act["participants"] == [{"person_id": person["id"], "primary": True}]

    # the id map finds the activity again; the match key finds the product (and a seeded one)
    seeded = pd_all(sandbox, "products")[0]
    text = singer("activities", [{**activity, "done": True}], key_properties=["key"]) + singer(
        "products", [{**product, "name": "Widget II"}, {"code": seeded["code"], "unit": "box"}]
    )
    _, target = run_target(config, text)
    assert counts(target, "activities")["updated"] == 1
    assert counts(target, "products")["updated"] == 2
    assert pd_get(sandbox, f"/api/v2/activities/{act['id']}")["data"]["done"] is True
    assert pd_get(sandbox, f"/api/v2/products/{seeded['id']}")["data"]["unit"] == "box"
    assert [p["name"] for p in pd_all(sandbox, "products") if p["code"] == "SKU-NEW-1"] == [
        "Widget II"
    ]


def test_notes_through_v1_and_followers_through_v2(sandbox: SandboxHandle, tmp_path: Path) -> None:
    deal = pd_all(sandbox, "deals")[0]
    config = pipedrive_config(sandbox, id_map_path=str(tmp_path / "ids.sqlite"))
    note = {
        "note_key": "n1",
        "content": "<p>Called, wants a quote</p>",
        "deal_id": deal["id"],
        "pinned_to_deal_flag": True,
    }
    follower = {"deal_id": deal["id"], "user_id": 2}
    text = singer("notes", [note], key_properties=["note_key"]) + singer(
        "deal_followers", [follower]
    )
    _, target = run_target(config, text)
    assert counts(target, "notes")["created"] == 1
    assert counts(target, "deal_followers")["created"] == 1
    (written,) = [n for n in pd_notes(sandbox) if n["content"] == note["content"]]
    assert written["deal_id"] == deal["id"]
    assert written["pinned_to_deal_flag"] is True
    followers = pd_get(sandbox, f"/api/v2/deals/{deal['id']}/followers")["data"]
    assert [f["user_id"] for f in followers].count(2) == 1

    # again, with an edited note: the note is updated (PUT), the follower is already there
    _, target = run_target(
        config,
        singer("notes", [{**note, "content": "<p>Quote sent</p>"}], key_properties=["note_key"])
        + singer("deal_followers", [follower]),
    )
    assert counts(target, "notes")["updated"] == 1
    assert counts(target, "deal_followers")["unchanged"] == 1
    assert pd_get(sandbox, f"/v1/notes/{written['id']}")["data"]["content"] == "<p>Quote sent</p>"


def test_same_input_twice_leaves_exactly_one_load(sandbox: SandboxHandle, tmp_path: Path) -> None:
    config = pipedrive_config(sandbox, id_map_path=str(tmp_path / "ids.sqlite"))
    text = (
        singer("organizations", [{"org_key": "o1", "name": "Once Ltd"}], key_properties=["org_key"])
        + singer("persons", people(5), key_properties=["customer_id"], schema=PERSON_SCHEMA)
        + singer("notes", [{"nk": "n", "content": "hello", "person_id": 1}], key_properties=["nk"])
    )
    run_target(config, text)
    after_first = {e: len(pd_all(sandbox, e)) for e in ("organizations", "persons")}
    notes_first = len(pd_notes(sandbox))
    writes_first = writes(sandbox)
    _, target = run_target(config, text)
    assert {e: len(pd_all(sandbox, e)) for e in ("organizations", "persons")} == after_first
    assert len(pd_notes(sandbox)) == notes_first
    assert writes(sandbox) == writes_first  # nothing changed, so nothing was sent
    assert counts(target, "persons")["unchanged"] == 5


def test_dry_run_reads_and_matches_but_writes_nothing(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    existing = pd_all(sandbox, "persons")[0]
    records = [
        {"customer_id": "a", "name": "Changed", "email": existing["emails"][0]["value"]},
        *people(3),
    ]
    id_map = tmp_path / "ids.sqlite"
    config = pipedrive_config(
        sandbox, dry_run=True, match_keys={"persons": "email"}, id_map_path=str(id_map)
    )
    _, target = run_target(
        config, singer("persons", records, key_properties=["customer_id"], schema=PERSON_SCHEMA)
    )
    assert counts(target, "persons") == {"created": 3, "updated": 1, "unchanged": 0, "rejected": 0}
    assert sandbox.counters()["events"].get("writes", 0) == 0
    assert not id_map.exists()


def test_rejected_records_land_in_the_file_and_the_exit_status_follows_the_limit(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    rejected = tmp_path / "rejected.jsonl"
    records = [
        {"customer_id": "ok1", "name": "Fine One"},
        {"customer_id": "bad-type", "name": "Wrong", "score": "high"},  # not a number: SCHEMA
        {"customer_id": "no-name", "email": "x@x.test"},  # create without the required name
        {"customer_id": "bad-date", "name": "Late", "signed_up": "yesterday"},
        {"customer_id": "ok2", "name": "Fine Two"},
    ]
    text = singer("persons", records, key_properties=["customer_id"], schema=PERSON_SCHEMA)
    config = pipedrive_config(sandbox, rejected_records_path=str(rejected))
    failed = run_cli(config, text, tmp_path)
    assert failed.returncode == 1
    assert "3 records were rejected (max_rejected_records is 0)" in failed.stderr
    assert "Traceback" not in failed.stderr
    reasons = {line["record"]["customer_id"]: line["reason"] for line in read_jsonl(rejected)}
    assert set(reasons) == {"bad-type", "no-name", "bad-date"}
    assert "invalid record" in reasons["bad-type"]
    assert "'high'" in reasons["bad-type"]
    assert "name" in reasons["no-name"]
    assert "not a valid date-time" in reasons["bad-date"]
    names = {p["name"] for p in pd_all(sandbox, "persons")}
    assert {"Fine One", "Fine Two"} <= names  # the good records around the bad ones

    rejected.unlink()
    passed = run_cli({**config, "max_rejected_records": 3}, text.replace("ok", "again"), tmp_path)
    assert passed.returncode == 0, passed.stderr
    assert len(read_jsonl(rejected)) == 3


def test_api_refusal_is_rejected_with_the_api_message(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    rejected = tmp_path / "rejected.jsonl"
    config = pipedrive_config(sandbox, rejected_records_path=str(rejected), max_rejected_records=1)
    run_target(config, singer("persons", [{"name": "Vis", "visible_to": 2}, {"name": "Fine"}]))
    (line,) = read_jsonl(rejected)
    assert line["status"] == 400
    assert "visible_to" in line["api_message"]


def test_migration_resolves_references_through_the_id_map_whatever_the_stream_order(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    """Another system's ids: deals arrive first (as a tap sorts them) and still link."""
    config = pipedrive_config(
        sandbox, record_ids="source", id_map_path=str(tmp_path / "ids.sqlite")
    )
    text = (
        singer(
            "deals",
            [{"id": 501, "title": "Migrated deal", "person_id": 7001, "org_id": 8001}],
            key_properties=["id"],
        )
        + singer(
            "notes",
            [{"id": 9, "content": "from the old CRM", "person_id": 7001}],
            key_properties=["id"],
        )
        + singer("organizations", [{"id": 8001, "name": "Old Org"}], key_properties=["id"])
        + singer(
            "persons", [{"id": 7001, "name": "Old Person", "org_id": 8001}], key_properties=["id"]
        )
    )
    states, _ = run_target(config, text + '{"type": "STATE", "value": {"done": true}}\n')
    assert states == [{"done": True}]
    (org,) = [o for o in pd_all(sandbox, "organizations") if o["name"] == "Old Org"]
    (person,) = [p for p in pd_all(sandbox, "persons") if p["name"] == "Old Person"]
    (deal,) = [d for d in pd_all(sandbox, "deals") if d["title"] == "Migrated deal"]
    assert person["org_id"] == org["id"]
    assert (deal["person_id"], deal["org_id"]) == (person["id"], org["id"])
    assert [n["person_id"] for n in pd_notes(sandbox) if n["content"] == "from the old CRM"] == [
        person["id"]
    ]

    before = writes(sandbox)
    run_target(config, text)  # a re-run finds everything through the id map
    assert writes(sandbox) == before


def test_faults_and_dropped_connections_never_create_twice(sandbox: SandboxHandle) -> None:
    sandbox.configure(fault_rate=0.2, drop_rate=0.05)
    config = pipedrive_config(sandbox, max_concurrent_requests=4)
    _, target = run_target(
        config,
        singer("persons", people(40, "f"), key_properties=["customer_id"], schema=PERSON_SCHEMA),
    )
    sandbox.configure(fault_rate=0.0, drop_rate=0.0)
    events = sandbox.counters()["events"]
    assert events.get("faults", 0) + events.get("drops", 0) > 0
    names = [p["name"] for p in pd_all(sandbox, "persons") if p["name"].startswith("Ada f")]
    assert sorted(names) == sorted(f"Ada f{i}" for i in range(40))
    assert counts(target, "persons")["created"] == 40


def test_state_is_emitted_only_after_the_records_before_it_are_written(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    text = singer(
        "persons", people(3), key_properties=["customer_id"], schema=PERSON_SCHEMA, state={"at": 3}
    )
    states, _ = run_target(pipedrive_config(sandbox), text)
    assert states == [{"at": 3}]
    assert {f"Ada p{i}" for i in range(3)} <= {p["name"] for p in pd_all(sandbox, "persons")}

    # a load that cannot write (bad token) acknowledges nothing
    failed = run_cli({**pipedrive_config(sandbox), "api_token": "wrong"}, text, tmp_path)
    assert failed.returncode == 1
    assert failed.stdout.strip() == ""
    assert "401" in failed.stderr
    assert "wrong" not in failed.stderr


def test_a_stream_without_write_endpoint_is_refused_before_anything_is_written(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    text = singer(
        "persons", people(2), key_properties=["customer_id"], schema=PERSON_SCHEMA
    ) + singer("pipelines", [{"id": 1, "name": "x"}])
    result = run_cli(pipedrive_config(sandbox), text, tmp_path)
    assert result.returncode == 1
    assert "cannot write stream 'pipelines'" in result.stderr
    assert "Traceback" not in result.stderr
    assert writes(sandbox) == 0


def test_write_modes(sandbox: SandboxHandle, tmp_path: Path) -> None:
    existing = pd_all(sandbox, "persons")[0]
    email = existing["emails"][0]["value"]
    records = [{"customer_id": "e", "name": "Only If New", "email": email}, *people(1, "m")]
    text = singer("persons", records, key_properties=["customer_id"], schema=PERSON_SCHEMA)
    create_only = pipedrive_config(
        sandbox, match_keys={"persons": "email"}, write_mode="create_only"
    )
    _, target = run_target(create_only, text)
    assert counts(target, "persons") == {"created": 1, "updated": 0, "unchanged": 1, "rejected": 0}
    assert pd_get(sandbox, f"/api/v2/persons/{existing['id']}")["data"]["name"] == existing["name"]

    update_only = {**create_only, "write_mode": "update_only", "max_rejected_records": 5}
    text = singer(
        "persons", [*records, *people(1, "u")], key_properties=["customer_id"], schema=PERSON_SCHEMA
    )
    _, target = run_target(update_only, text)
    assert counts(target, "persons") == {"created": 0, "updated": 1, "unchanged": 1, "rejected": 1}
    assert "Ada u0" not in {p["name"] for p in pd_all(sandbox, "persons")}


def test_too_many_rejections_raise_in_process(sandbox: SandboxHandle) -> None:
    with pytest.raises(LoadFailedError, match="1 records were rejected"):
        run_target(pipedrive_config(sandbox), singer("persons", [{"email": "no-name@x.test"}]))


def test_creates_that_time_out_after_the_server_applied_them_are_not_sent_again(
    sandbox: SandboxHandle,
) -> None:
    # a slow answer: the client gives up at 0.4 s, the sandbox applies the create at 1 s
    sandbox.configure(slow_rate=0.3, slow_ms=1000)
    config = pipedrive_config(sandbox, request_timeout=0.4, max_concurrent_requests=8)
    _, target = run_target(
        config,
        singer("persons", people(20, "t"), key_properties=["customer_id"], schema=PERSON_SCHEMA),
    )
    sandbox.configure(slow_rate=0.0, slow_ms=0)
    names = [p["name"] for p in pd_all(sandbox, "persons") if p["name"].startswith("Ada t")]
    assert sorted(names) == sorted(f"Ada t{i}" for i in range(20))
    assert counts(target, "persons")["created"] == 20


def test_composite_match_key_and_updates_by_id_for_organizations_and_activities(
    sandbox: SandboxHandle,
) -> None:
    seeded = next(a for a in pd_all(sandbox, "activities") if a["due_date"])
    org = pd_all(sandbox, "organizations")[0]
    config = pipedrive_config(sandbox, match_keys={"activities": ["subject", "due_date"]})
    text = singer(
        "activities",
        [
            # same subject and day: that activity; same subject another day: a new one
            {"subject": seeded["subject"], "due_date": seeded["due_date"], "done": True},
            {"subject": seeded["subject"], "due_date": "2031-01-02", "type": "call"},
        ],
    ) + singer("organizations", [{"id": org["id"], "name": "Renamed Org"}])
    _, target = run_target(config, text)
    assert counts(target, "activities") == {
        "created": 1,
        "updated": 1,
        "unchanged": 0,
        "rejected": 0,
    }
    assert counts(target, "organizations")["updated"] == 1
    assert pd_get(sandbox, f"/api/v2/activities/{seeded['id']}")["data"]["done"] is True
    assert pd_get(sandbox, f"/api/v2/organizations/{org['id']}")["data"]["name"] == "Renamed Org"
    same_subject = [a for a in pd_all(sandbox, "activities") if a["subject"] == seeded["subject"]]
    assert sorted(a["due_date"] for a in same_subject) == sorted([seeded["due_date"], "2031-01-02"])


def test_an_id_that_is_not_a_pipedrive_id_is_rejected_not_a_crash(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    rejected = tmp_path / "rejected.jsonl"
    config = pipedrive_config(sandbox, rejected_records_path=str(rejected), max_rejected_records=1)
    _, target = run_target(config, singer("persons", [{"id": "C-17", "name": "X"}, {"name": "Y"}]))
    assert counts(target, "persons") == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 1}
    assert "not a Pipedrive id" in read_jsonl(rejected)[0]["reason"]
