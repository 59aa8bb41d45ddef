"""`meltano run crm-migrate`: the Onpipeline account moves into Pipedrive, links intact."""

from __future__ import annotations

from typing import Any

import pytest

from crm_sandbox.testing import SandboxHandle
from tests.e2e.crm import pipedrive_list
from tests.e2e.meltano_project import MeltanoProject

pytestmark = pytest.mark.e2e


def onpipeline_all(sandbox: SandboxHandle, entity: str) -> dict[str, dict[str, Any]]:
    """The live records of the Onpipeline account, as its API shows them."""
    records = {}
    for rid in sandbox.control("GET", f"/onpipeline/ids/{entity}")["ids"]:
        records[rid] = sandbox.control("GET", f"/onpipeline/records/{entity}/{rid}")["record"]
    return records


def test_every_onpipeline_person_organization_and_deal_lands_in_pipedrive_linked(
    meltano: MeltanoProject, sandbox: SandboxHandle
) -> None:
    summary = sandbox.control("GET", "/onpipeline/summary")["counts"]
    organizations = onpipeline_all(sandbox, "organizations")
    persons = onpipeline_all(sandbox, "persons")
    deals = onpipeline_all(sandbox, "deals")

    meltano.run("run", "crm-migrate")

    ids = meltano.id_map("pipedrive-migrate")
    pd_orgs = {o["id"]: o for o in pipedrive_list(sandbox, "organizations")}
    pd_persons = {p["id"]: p for p in pipedrive_list(sandbox, "persons")}
    pd_deals = {d["id"]: d for d in pipedrive_list(sandbox, "deals")}

    def pipedrive_id(stream: str, onpipeline_id: str) -> int | None:
        found = ids.get((stream, onpipeline_id))
        return None if found is None else int(found)

    migrated = {"organizations": 0, "persons": 0, "deals": 0}
    for org_id, org in organizations.items():
        pid = pipedrive_id("organizations", org_id)
        if pid is None:
            continue  # a deleted Onpipeline organization is not migrated
        migrated["organizations"] += 1
        assert pd_orgs[pid]["name"] == org["OrgName"]
    for person_id, person in persons.items():
        pid = pipedrive_id("persons", person_id)
        if pid is None:
            continue
        migrated["persons"] += 1
        assert pd_persons[pid]["name"] == person["Fullname"]
        emails = [e["value"] for e in pd_persons[pid]["emails"]]
        assert emails[:1] == [e["Address"] for e in person["Email"]][:1]
        assert pd_persons[pid]["org_id"] == pipedrive_id("organizations", person["OrgID"])
    for deal_id, deal in deals.items():
        pid = pipedrive_id("deals", deal_id)
        if pid is None:
            continue
        migrated["deals"] += 1
        assert pd_deals[pid]["title"] == deal["DealName"]
        assert pd_deals[pid]["value"] == pytest.approx(float(deal["Value"]))
        # Linked as before: the same person and organization, by their Pipedrive ids.
        assert pd_deals[pid]["person_id"] == pipedrive_id("persons", deal["LinkedPersonID"])
        assert pd_deals[pid]["org_id"] == pipedrive_id("organizations", deal["LinkedOrgID"])
    # Every live record of the account made it (the sandbox counts the live ones).
    assert migrated == {key: summary[key] for key in migrated}

    # A second run writes nothing new: the id map knows every record.
    before = {e: len(pipedrive_list(sandbox, e)) for e in ("organizations", "persons", "deals")}
    meltano.run("run", "--full-refresh", "crm-migrate")
    after = {e: len(pipedrive_list(sandbox, e)) for e in ("organizations", "persons", "deals")}
    assert after == before
