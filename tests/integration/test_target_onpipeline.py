"""target-crm writing into the sandbox's Onpipeline over HTTP, checked through its List calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crm_sandbox.testing import SandboxHandle
from tests.integration.test_target_support import (
    counts,
    onpipeline_config,
    op_call,
    read_jsonl,
    run_cli,
    run_target,
    singer,
    writes,
)


def persons(sandbox: SandboxHandle, **filters: Any) -> list[dict[str, Any]]:
    return op_call(sandbox, "PersonList", filters) or []


def extra(record: dict[str, Any], field_id: str) -> Any:
    return next((e["Value"] for e in record.get("Extra") or [] if e["ID"] == field_id), None)


def custom_id(sandbox: SandboxHandle, table: str, name: str) -> str:
    return next(
        f["ID"] for f in op_call(sandbox, "ListCustomFields", {"Table": table}) if f["Name"] == name
    )


def test_persons_create_update_by_person_id_and_upsert_by_email(sandbox: SandboxHandle) -> None:
    config = onpipeline_config(sandbox, match_keys={"persons": "email"})
    record = {
        "key": "w1",
        "FirstName": "Lin",
        "LastName": "Wu",
        "email": "lin.wu@x.test",
        "frequent_buyer": "yes",
    }
    _, target = run_target(config, singer("persons", [record], key_properties=["key"]))
    assert counts(target, "persons")["created"] == 1
    (created,) = persons(sandbox, Fullname="Lin Wu")
    assert created["Email"][0]["Address"] == "lin.wu@x.test"
    assert extra(created, custom_id(sandbox, "Persons", "Frequent Buyer")) == "yes"

    # by the CRM's own id: only the given field changes
    _, target = run_target(
        config, singer("persons", [{"PersonID": created["PersonID"], "LastName": "Wu-Chen"}])
    )
    assert counts(target, "persons")["updated"] == 1
    (after,) = persons(sandbox, PersonID=created["PersonID"])
    assert (after["FirstName"], after["LastName"]) == ("Lin", "Wu-Chen")

    # by email, for a seeded person, in a different case
    seeded = next(
        p for p in persons(sandbox) if p["Email"] and p["PersonID"] != created["PersonID"]
    )
    before = len(persons(sandbox))
    upsert = {"key": "w2", "email": seeded["Email"][0]["Address"].upper(), "LastName": "Renamed"}
    _, target = run_target(config, singer("persons", [upsert], key_properties=["key"]))
    assert counts(target, "persons")["updated"] == 1
    assert len(persons(sandbox)) == before
    assert persons(sandbox, PersonID=seeded["PersonID"])[0]["LastName"] == "Renamed"


def test_a_change_that_changes_nothing_is_unchanged_not_an_error(sandbox: SandboxHandle) -> None:
    seeded = persons(sandbox)[0]
    config = onpipeline_config(sandbox)
    same = {"PersonID": seeded["PersonID"], "FirstName": seeded["FirstName"]}
    _, target = run_target(config, singer("persons", [same]))
    assert counts(target, "persons") == {"created": 0, "updated": 0, "unchanged": 1, "rejected": 0}
    assert sandbox.counters()["statuses"].get("406") == 1  # the API said "no change"


def test_organizations_upsert_by_name_and_a_409_duplicate_becomes_an_update(
    sandbox: SandboxHandle,
) -> None:
    seeded = next(o for o in op_call(sandbox, "OrgList") if o["Postcode"])
    billing = custom_id(sandbox, "Organizations", "Billing ID")
    before = len(op_call(sandbox, "OrgList"))
    # no match key: a create; OrgName + Postcode exist, so OrgAdd answers 409
    duplicate = {
        "OrgName": seeded["OrgName"],
        "Postcode": seeded["Postcode"],
        "City": "Bologna",
        "billing_id": "B-77",
    }
    _, target = run_target(onpipeline_config(sandbox), singer("organizations", [duplicate]))
    assert counts(target, "organizations")["updated"] == 1
    assert sandbox.counters()["statuses"].get("409") == 1
    (after,) = op_call(sandbox, "OrgList", {"OrgID": seeded["OrgID"]})
    assert after["City"] == "Bologna"
    assert extra(after, billing) == "B-77"

    config = onpipeline_config(sandbox, match_keys={"organizations": "OrgName"})
    records = [
        {"OrgName": seeded["OrgName"].lower(), "City": "Torino"},
        {"OrgName": "Nuova S.r.l."},
    ]
    _, target = run_target(config, singer("organizations", records))
    assert counts(target, "organizations") == {
        "created": 1,
        "updated": 1,
        "unchanged": 0,
        "rejected": 0,
    }
    assert len(op_call(sandbox, "OrgList")) == before + 1


def test_deals_create_update_and_upsert_by_custom_field(sandbox: SandboxHandle) -> None:
    pipeline = op_call(sandbox, "PipelineList")[0]
    owner = op_call(sandbox, "UsersList")[0]["ID"]
    person = persons(sandbox)[0]
    contract = custom_id(sandbox, "Deals", "Contract ref")
    config = onpipeline_config(sandbox, match_keys={"deals": "contract_ref"})
    deal = {
        "contract_ref": "CR-1",
        "DealName": "Warehouse upsell",
        "Value": 1234.5,
        "Probability": 40,
        "PipelineID": pipeline["PipelineID"],
        "StageID": pipeline["Stages"][0]["ID"],
        "OwnerID": owner,
        "LinkedPersonID": person["PersonID"],
        "ExpClosing": "2026-12-31",
    }
    _, target = run_target(config, singer("deals", [deal]))
    assert counts(target, "deals")["created"] == 1
    (created,) = [d for d in op_call(sandbox, "DealsList") if extra(d, contract) == "CR-1"]
    assert (created["Value"], created["Probability"]) == ("1234.50", "40")
    assert created["LinkedPersonID"] == person["PersonID"]

    moved = {"contract_ref": "CR-1", "StageID": pipeline["Stages"][1]["ID"], "Status": "won"}
    _, target = run_target(config, singer("deals", [moved]))
    assert counts(target, "deals")["updated"] == 1
    (after,) = op_call(sandbox, "DealsList", {"DealID": created["DealID"]})
    assert (after["Stage"], after["Status"]) == (pipeline["Stages"][1]["Name"], "won")
    assert [
        d for d in op_call(sandbox, "DealsList", {"Status": "won"}) if extra(d, contract) == "CR-1"
    ] == [after]


def test_notes_are_added_once_and_a_missing_mandatory_field_is_rejected(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    person = persons(sandbox)[0]
    rejected = tmp_path / "rejected.jsonl"
    config = onpipeline_config(
        sandbox,
        id_map_path=str(tmp_path / "ids.sqlite"),
        rejected_records_path=str(rejected),
        max_rejected_records=1,
    )
    notes = [
        {"k": "n1", "Type": "person", "LinkedID": person["PersonID"], "Text": "Called back"},
        {"k": "n2", "Type": "person", "Text": "No link"},
    ]
    text = singer("notes", notes, key_properties=["k"])
    _, target = run_target(config, text)
    assert counts(target, "notes") == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 1}
    listed = op_call(sandbox, "NotesList", {"Type": "person", "LinkedID": person["PersonID"]})
    assert [n["Text"] for n in listed].count("Called back") == 1
    (line,) = read_jsonl(rejected)
    assert "LinkedID" in line["reason"]

    before = writes(sandbox)
    run_target(
        config, singer("notes", notes[:1], key_properties=["k"])
    )  # again: found in the id map
    assert writes(sandbox) == before


def test_migration_links_deals_to_migrated_persons_and_orgs(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    pipeline = op_call(sandbox, "PipelineList")[0]
    owner = op_call(sandbox, "UsersList")[0]["ID"]
    config = onpipeline_config(
        sandbox, record_ids="source", id_map_path=str(tmp_path / "ids.sqlite")
    )
    text = (
        singer(
            "deals",
            [
                {
                    "DealID": "OLD-D1",
                    "DealName": "Migrated",
                    "PipelineID": pipeline["PipelineID"],
                    "StageID": pipeline["Stages"][0]["ID"],
                    "OwnerID": owner,
                    "LinkedPersonID": "OLD-P1",
                    "LinkedOrgID": "OLD-O1",
                }
            ],
            key_properties=["DealID"],
        )
        + singer(
            "notes",
            [{"NoteID": "OLD-N1", "Type": "deal", "LinkedID": "OLD-D1", "Text": "hi"}],
            key_properties=["NoteID"],
        )
        + singer(
            "organizations",
            [{"OrgID": "OLD-O1", "OrgName": "Migrated Org"}],
            key_properties=["OrgID"],
        )
        + singer(
            "persons",
            [{"PersonID": "OLD-P1", "FirstName": "Mig", "LastName": "Rated", "OrgID": "OLD-O1"}],
            key_properties=["PersonID"],
        )
    )
    run_target(config, text)
    (org,) = op_call(sandbox, "OrgList", {"OrgName": "Migrated Org"})
    (person,) = persons(sandbox, Fullname="Mig Rated")
    deal = next(d for d in op_call(sandbox, "DealsList") if d["DealName"] == "Migrated")
    assert person["OrgID"] == org["OrgID"]
    assert (deal["LinkedPersonID"], deal["LinkedOrgID"]) == (person["PersonID"], org["OrgID"])
    assert [
        n["Text"]
        for n in op_call(sandbox, "NotesList", {"Type": "deal", "LinkedID": deal["DealID"]})
    ] == ["hi"]


def test_events_are_refused_at_the_start(sandbox: SandboxHandle, tmp_path: Path) -> None:
    text = singer("events", [{"EventID": "1", "Name": "x"}]) + singer(
        "persons", [{"FirstName": "A", "LastName": "B"}]
    )
    result = run_cli(onpipeline_config(sandbox), text, tmp_path)
    assert result.returncode == 1
    assert "cannot write stream 'events' to onpipeline" in result.stderr
    assert writes(sandbox) == 0


def test_dry_run_writes_nothing(sandbox: SandboxHandle) -> None:
    seeded = persons(sandbox)[0]
    config = onpipeline_config(sandbox, dry_run=True)
    records = [
        {"PersonID": seeded["PersonID"], "LastName": "Other"},
        {"FirstName": "New", "LastName": "One"},
    ]
    _, target = run_target(config, singer("persons", records))
    assert counts(target, "persons") == {"created": 1, "updated": 1, "unchanged": 0, "rejected": 0}
    assert writes(sandbox) == 0
    assert persons(sandbox, PersonID=seeded["PersonID"])[0]["LastName"] == seeded["LastName"]


def test_composite_match_key_and_deal_update_by_deal_id(sandbox: SandboxHandle) -> None:
    seeded = persons(sandbox)[0]
    deal = op_call(sandbox, "DealsList")[0]
    config = onpipeline_config(sandbox, match_keys={"persons": ["FirstName", "LastName"]})
    text = singer(
        "persons",
        [
            {
                "FirstName": seeded["FirstName"],
                "LastName": seeded["LastName"],
                "email": "new@x.test",
            },
            {"FirstName": seeded["FirstName"], "LastName": "Someone-Else"},
        ],
    ) + singer("deals", [{"DealID": deal["DealID"], "Value": 777, "Probability": 90}])
    _, target = run_target(config, text)
    assert counts(target, "persons") == {"created": 1, "updated": 1, "unchanged": 0, "rejected": 0}
    assert counts(target, "deals")["updated"] == 1
    assert persons(sandbox, PersonID=seeded["PersonID"])[0]["Email"][0]["Address"] == "new@x.test"
    (after,) = op_call(sandbox, "DealsList", {"DealID": deal["DealID"]})
    assert (after["Value"], after["Probability"]) == ("777.00", "90")


def test_deals_as_dealslist_gives_them_pipeline_and_stage_names_become_ids(
    sandbox: SandboxHandle, second_sandbox: SandboxHandle, tmp_path: Path
) -> None:
    """A deal read from one account (names, not ids) is written into another one."""
    second_sandbox.reset(size=0)
    deal = next(d for d in op_call(sandbox, "DealsList") if d["Status"] == "open")
    record = {k: deal[k] for k in ("DealID", "DealName", "Value", "Pipeline", "Stage")}
    record["OwnerID"] = op_call(second_sandbox, "UsersList")[0]["ID"]  # users are per account
    config = onpipeline_config(
        second_sandbox, record_ids="source", id_map_path=str(tmp_path / "ids.sqlite")
    )
    _, target = run_target(config, singer("deals", [record], key_properties=["DealID"]))
    assert counts(target, "deals")["created"] == 1
    (copied,) = op_call(second_sandbox, "DealsList")
    assert [copied[k] for k in ("DealName", "Value", "Pipeline", "Stage")] == [
        deal[k] for k in ("DealName", "Value", "Pipeline", "Stage")
    ]


def test_faults_never_add_a_person_twice(sandbox: SandboxHandle) -> None:
    sandbox.configure(fault_rate=0.2, drop_rate=0.05)
    records = [{"k": f"f{i}", "FirstName": "Fault", "LastName": f"Tolerant {i}"} for i in range(20)]
    _, target = run_target(
        onpipeline_config(sandbox), singer("persons", records, key_properties=["k"])
    )
    sandbox.configure(fault_rate=0.0, drop_rate=0.0)
    events = sandbox.counters()["events"]
    assert events.get("faults", 0) + events.get("drops", 0) > 0
    names = sorted(p["LastName"] for p in persons(sandbox) if p["FirstName"] == "Fault")
    assert names == sorted(f"Tolerant {i}" for i in range(20))
    assert counts(target, "persons")["created"] == 20


def test_an_add_that_times_out_after_the_server_applied_it_is_not_sent_again(
    sandbox: SandboxHandle,
) -> None:
    sandbox.configure(slow_rate=0.3, slow_ms=1000)
    records = [{"k": f"s{i}", "FirstName": "Slow", "LastName": f"Answer {i}"} for i in range(10)]
    config = onpipeline_config(sandbox, request_timeout=0.4)
    _, target = run_target(config, singer("persons", records, key_properties=["k"]))
    sandbox.configure(slow_rate=0.0, slow_ms=0)
    names = sorted(p["LastName"] for p in persons(sandbox) if p["FirstName"] == "Slow")
    assert names == sorted(f"Answer {i}" for i in range(10))
    assert counts(target, "persons")["created"] == 10
