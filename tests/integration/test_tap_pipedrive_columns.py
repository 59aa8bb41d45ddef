"""Every column Pipedrive can give, through the real tap-crm (and target-crm) against
crm-sandbox: the v2 ``include_fields`` extras checked against the related streams the same
sync emitted, the setting that switches them off, a round trip of the newer organization
and person fields, and the leads' custom fields as named, typed columns."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from crm_api.pipedrive_include import INCLUDE_FIELDS, NAMED_ONLY
from crm_sandbox.testing import SandboxHandle
from tap_crm.tap import TapCRM
from tests.integration.test_tap_pipedrive import pd_config, run_tap
from tests.integration.test_target_support import counts, pipedrive_config, run_target, singer

RELATED = [
    "deals", "persons", "organizations", "activities", "notes", "files", "leads",
    "deal_products", "deal_flow", "deal_followers_changelog", "person_followers_changelog",
    "organization_followers_changelog",
]  # fmt: skip


CUSTOM = re.compile(r"^Custom field '.*' \(\w+, ([0-9a-f]{40})\)$")


def followers_now(changelog: list[dict[str, Any]], key: str) -> Counter[int]:
    """Followers per parent after replaying its changelog (added / removed)."""
    current: dict[int, set[int]] = {}
    for row in sorted(changelog, key=lambda r: r["time"]):
        users = current.setdefault(row[key], set())
        if row["action"] == "added":
            users.add(row["follower_user_id"])
        else:
            users.discard(row["follower_user_id"])
    return Counter({parent: len(users) for parent, users in current.items()})


def activity_facts(activities: list[dict[str, Any]]) -> dict[str, Any]:
    done = [a for a in activities if a["done"]]
    undone = [a for a in activities if not a["done"]]
    latest = sorted(done, key=lambda a: (a["due_date"] or "", a["id"]))
    soonest = sorted(undone, key=lambda a: (a["due_date"] or "9999-99-99", a["id"]))
    return {
        "activities_count": len(activities),
        "done_activities_count": len(done),
        "undone_activities_count": len(undone),
        "next_activity_id": soonest[0]["id"] if soonest else None,
        "last_activity_id": latest[-1]["id"] if latest else None,
    }


def deal_facts(deals: list[dict[str, Any]], prefix: str = "") -> dict[str, int]:
    status = Counter(d["status"] for d in deals)
    return {
        f"{prefix}open_deals_count": status["open"],
        f"{prefix}won_deals_count": status["won"],
        f"{prefix}lost_deals_count": status["lost"],
        f"{prefix}closed_deals_count": status["won"] + status["lost"],
    }


def test_a_full_sync_carries_every_extra_with_the_value_the_data_implies(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    run = run_tap(tmp_path, pd_config(sandbox), streams=RELATED)
    rec = run.records
    for stream, names in INCLUDE_FIELDS.items():
        expected = set(names) - NAMED_ONLY
        assert rec[stream], stream
        for record in rec[stream]:
            assert expected <= set(record), (stream, expected - set(record))
        assert not (NAMED_ONLY & {k for r in rec[stream] for k in r})  # asked only when named

    live_deals = [d for d in rec["deals"] if not d["is_deleted"]]
    activities = rec["activities"]
    notes = [n for n in rec["notes"] if n["active_flag"]]
    files = [f for f in rec["files"] if f["active_flag"]]
    lead_ids = set(run.ids("leads"))
    products = Counter(p["deal_id"] for p in rec["deal_products"])
    won_at: dict[int, str] = {}
    for change in sorted(rec["deal_flow"], key=lambda c: c["timestamp"]):
        data = change["data"]
        if change["object"] == "dealChange" and (data["field_key"], data["new_value"]) == (
            "status",
            "won",
        ):
            won_at.setdefault(change["deal_id"], change["timestamp"])
    followers = {
        "deals": followers_now(rec["deal_followers_changelog"], "deal_id"),
        "persons": followers_now(rec["person_followers_changelog"], "person_id"),
        "organizations": followers_now(rec["organization_followers_changelog"], "organization_id"),
    }
    key = {"deals": "deal_id", "persons": "person_id", "organizations": "org_id"}

    converted = 0
    for deal in live_deals:
        mine = [a for a in activities if a["deal_id"] == deal["id"]]
        assert {k: deal[k] for k in activity_facts(mine)} == activity_facts(mine), deal["id"]
        assert deal["products_count"] == products[deal["id"]]
        assert deal["notes_count"] == sum(n["deal_id"] == deal["id"] for n in notes)
        assert deal["files_count"] == sum(f["deal_id"] == deal["id"] for f in files)
        assert deal["followers_count"] == followers["deals"][deal["id"]]
        assert deal["participants_count"] == (1 if deal["person_id"] else 0)
        first_won = won_at.get(deal["id"], deal["won_time"])
        assert deal["first_won_time"] == (first_won if deal["status"] == "won" else None)
        if deal["source_lead_id"] is not None:
            converted += 1
            assert deal["source_lead_id"] in lead_ids
        assert deal["smart_bcc_email"].endswith("@pipedrivemail.com")
    assert converted, "some seeded deals come from a lead"

    people = rec["persons"]
    for entity in ("persons", "organizations"):
        for row in rec[entity]:
            fk = key[entity]
            mine = [a for a in activities if a[fk] == row["id"]]
            assert {k: row[k] for k in activity_facts(mine)} == activity_facts(mine)
            own = [d for d in live_deals if d[fk] == row["id"]]
            assert {k: row[k] for k in deal_facts(own)} == deal_facts(own), (entity, row["id"])
            if entity == "persons":  # related: the deals of the person's organization
                related = [d for d in live_deals if row["org_id"] and d["org_id"] == row["org_id"]]
                assert row["participant_open_deals_count"] == row["open_deals_count"]
            else:  # related: the deals of the organization's persons
                staff = {p["id"] for p in people if p["org_id"] == row["id"]}
                related = [d for d in live_deals if d["person_id"] in staff]
                assert row["people_count"] == len(staff)
            assert {k: row[k] for k in deal_facts(related, "related_")} == deal_facts(
                related, "related_"
            )
            assert row["notes_count"] == sum(n[fk] == row["id"] for n in notes)
            assert row["files_count"] == sum(f[fk] == row["id"] for f in files)
            assert row["followers_count"] == followers[entity][row["id"]]
            assert row["email_messages_count"] == 0  # the sandbox has no mailbox

    emails = {p["id"]: {e["value"] for e in p["emails"]} for p in people}
    invited = [a for a in activities if a["attendees"]]
    assert invited, "seeded meetings invite their participants"
    for activity in invited:
        guests = [g for g in activity["attendees"] if not g["is_organizer"]]
        assert {g["person_id"] for g in guests} <= {
            p["person_id"] for p in activity["participants"]
        }
        assert all(g["email"] in emails[g["person_id"]] for g in guests)


def test_switched_off_no_extra_is_asked_for_and_none_appears(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    config = pd_config(sandbox, include_fields="none")
    streams = ["deals", "persons", "organizations", "activities"]
    catalog = TapCRM(config=config).catalog_dict
    sandbox.reset_counters()
    run = run_tap(tmp_path, config, streams=streams)
    assert sandbox.counters()["events"].get("include_fields_requests", 0) == 0
    schemas = {
        entry["tap_stream_id"]: entry["schema"]["properties"] for entry in catalog["streams"]
    }
    for stream in streams:
        assert run.records[stream]
        extras = set(INCLUDE_FIELDS[stream])
        assert not extras & set(schemas[stream]), stream
        assert not extras & {k for r in run.records[stream] for k in r}, stream
    assert "website" in schemas["organizations"]  # default fields stay


def test_a_list_of_names_asks_only_for_those(sandbox: SandboxHandle, tmp_path: Path) -> None:
    config = pd_config(sandbox, include_fields="people_count,won_deals_count")
    run = run_tap(tmp_path, config, streams=["deals", "persons", "organizations"])
    orgs, persons, deals = (run.records[s] for s in ("organizations", "persons", "deals"))
    assert all({"people_count", "won_deals_count"} <= set(o) for o in orgs)
    assert all("won_deals_count" in p and "activities_count" not in p for p in persons)
    assert not set(INCLUDE_FIELDS["deals"]) & {k for d in deals for k in d}


def test_an_unknown_name_ends_in_one_clear_line(sandbox: SandboxHandle, tmp_path: Path) -> None:
    config = pd_config(sandbox, include_fields=["activity_count"])
    run = run_tap(tmp_path, config, check=False)  # the whole discovery: fails first
    assert run.returncode != 0
    assert "include_fields: activity_count is not an include_fields value" in run.stderr
    assert "Traceback" not in run.stderr


def test_newer_organization_and_person_fields_round_trip(
    sandbox: SandboxHandle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    org = {
        "name": "Rundreise GmbH",
        "website": "https://rundreise.example",
        "linkedin": "https://www.linkedin.com/company/rundreise",
        "industry": "Logistics",
        "annual_revenue": 2500000.0,
        "employee_count": 120,
        "people_count": 9,  # computed by Pipedrive: never sent
    }
    person = {
        "name": "Zoë Rundreise",
        "job_title": "Head of Sales",
        "birthday": "1990-07-14",
        "notes": "Prefers mornings",
        "im": [{"value": "zoe.r", "primary": True, "label": "skype"}],
        "postal_address": "Hauptstraße 5, 10115 Berlin",
        "won_deals_count": 4,  # computed by Pipedrive: never sent
    }
    config = pipedrive_config(sandbox)
    with caplog.at_level(logging.INFO, logger="target-crm"):
        _, target = run_target(config, singer("organizations", [org]) + singer("persons", [person]))
    assert counts(target, "organizations")["created"] == 1
    assert counts(target, "persons")["created"] == 1
    assert "'people_count' is computed by Pipedrive" in caplog.text
    assert "'won_deals_count' is computed by Pipedrive" in caplog.text

    run = run_tap(tmp_path, pd_config(sandbox), streams=["organizations", "persons"])
    (org_back,) = [o for o in run.records["organizations"] if o["name"] == org["name"]]
    for field in ("website", "linkedin", "industry", "annual_revenue", "employee_count"):
        assert org_back[field] == org[field], field
    assert org_back["people_count"] == 0
    (person_back,) = [p for p in run.records["persons"] if p["name"] == person["name"]]
    for field in ("job_title", "birthday", "notes", "im"):
        assert person_back[field] == person[field], field
    assert person_back["postal_address"]["value"] == person["postal_address"]
    assert person_back["won_deals_count"] == 0


def test_leads_custom_fields_come_out_named_and_typed(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    config = pd_config(sandbox)
    catalog = {e["tap_stream_id"]: e for e in TapCRM(config=config).catalog_dict["streams"]}
    lead_schema = catalog["leads"]["schema"]["properties"]
    deal_schema = catalog["deals"]["schema"]["properties"]
    described = {
        name: CUSTOM.match(str(p.get("description", ""))) for name, p in lead_schema.items()
    }
    customs = {name: lead_schema[name] for name, found in described.items() if found}
    by_key = {found[1]: name for name, found in described.items() if found}
    assert customs, "leads get readable custom-field columns"
    for name, prop in customs.items():  # the deal fields, named and typed as for deals
        assert deal_schema[name]["type"] == prop["type"], name
    run = run_tap(tmp_path, config, streams=["leads"])
    leads = run.records["leads"]
    filled = 0
    for lead in leads:
        for key, value in lead["custom_fields"].items():
            assert lead[by_key[key]] == value
            filled += 1
    assert filled
    numeric = [n for n, p in customs.items() if p["type"] == ["number", "null"]]
    assert numeric
    assert any(isinstance(lead[numeric[0]], float | int) for lead in leads)


def test_the_columns_page_is_current() -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "pipedrive_columns.py"
    done = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_persons_without_contact_sync_values_load_into_an_account_without_it(
    sandbox: SandboxHandle,
) -> None:
    sandbox.control("POST", "/pipedrive/features", {"contact_sync": False})
    empty = {"name": "Ohne Sync", "job_title": None, "im": [], "birthday": None, "notes": None}
    _, target = run_target(pipedrive_config(sandbox), singer("persons", [empty]))
    assert counts(target, "persons")["created"] == 1  # empty contact-sync fields are not sent
