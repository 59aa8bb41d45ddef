"""The target's fast paths stay correct: updates by match key compare against the listing
this run made (no GET per record), so what they must still promise is tested here.

Request counts are the sandbox's own; they bound the work, never the time.
"""

from __future__ import annotations

import contextlib
import io
import math
from typing import Any

import requests

from crm_sandbox.testing import SandboxHandle
from target_crm.target import TargetCRM
from tests.integration.test_target_support import (
    counts,
    pd_all,
    pd_get,
    pipedrive_config,
    run_target,
    schema_of,
    singer,
    writes,
)

PERSON_SCHEMA = schema_of(
    {
        "customer_id": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "email": {"type": ["string", "null"]},
    }
)
HANDFUL = 5  # custom-field definitions and the like, besides listing and writing
PATCH = "pipedrive PATCH /api/v2/persons/{id}"
GET_ONE = "pipedrive GET /api/v2/persons/{id}"


def people(n: int, name: str) -> list[dict[str, Any]]:
    return [
        {"customer_id": f"u{i}", "name": name.format(i=i), "email": f"upd{i}@x.test"}
        for i in range(n)
    ]


def persons_text(records: list[dict[str, Any]]) -> str:
    return singer("persons", records, key_properties=["customer_id"], schema=PERSON_SCHEMA)


def requests_made(sandbox: SandboxHandle) -> dict[str, int]:
    return sandbox.counters()["requests"]


def test_updates_by_match_key_patch_each_record_once_and_a_rerun_changes_nothing(
    sandbox: SandboxHandle,
) -> None:
    n = 520  # with the seeded persons: a listing of two pages
    run_target(pipedrive_config(sandbox), persons_text(people(n, "Before {i}")))
    in_crm = len(pd_all(sandbox, "persons"))
    pages = math.ceil(in_crm / 500)
    assert pages >= 2
    # no id map: each record is found by its email in the CRM's listing
    config = pipedrive_config(sandbox, match_keys={"persons": "email"}, max_concurrent_requests=8)

    sandbox.reset_counters()
    _, target = run_target(config, persons_text(people(n, "After {i}")))
    assert counts(target, "persons") == {"created": 0, "updated": n, "unchanged": 0, "rejected": 0}
    made = requests_made(sandbox)
    assert made.get(PATCH, 0) == n  # n PATCHes, n persons renamed: each exactly once
    assert made.get(GET_ONE, 0) == 0  # the listing told what each record holds
    assert sum(made.values()) <= pages + n + HANDFUL
    after = pd_all(sandbox, "persons")
    assert len(after) == in_crm  # none created
    renamed = {p["name"] for p in after if str(p["name"]).startswith("After ")}
    assert renamed == {f"After {i}" for i in range(n)}

    sandbox.reset_counters()
    _, target = run_target(config, persons_text(people(n, "After {i}")))
    assert counts(target, "persons") == {"created": 0, "updated": 0, "unchanged": n, "rejected": 0}
    assert writes(sandbox) == 0
    assert sum(requests_made(sandbox).values()) <= pages + HANDFUL


def test_only_changed_records_are_patched(sandbox: SandboxHandle) -> None:
    run_target(pipedrive_config(sandbox), persons_text(people(20, "Same {i}")))
    config = pipedrive_config(sandbox, match_keys={"persons": "email"})
    changed = [
        {**record, "name": f"Changed {i}"} if i % 4 == 0 else record
        for i, record in enumerate(people(20, "Same {i}"))
    ]
    sandbox.reset_counters()
    _, target = run_target(config, persons_text(changed))
    assert counts(target, "persons") == {"created": 0, "updated": 5, "unchanged": 15, "rejected": 0}
    assert requests_made(sandbox).get(PATCH, 0) == 5


def test_a_record_this_run_changed_is_compared_with_the_crm_not_the_old_listing(
    sandbox: SandboxHandle,
) -> None:
    # Two records of one source key, in input order: the second puts back the name the
    # listing showed. Compared with the listing it would look unchanged and be skipped.
    (original,) = people(1, "Original")
    run_target(pipedrive_config(sandbox), persons_text([original]))
    (person,) = [p for p in pd_all(sandbox, "persons") if p["name"] == "Original"]
    config = pipedrive_config(sandbox, match_keys={"persons": "email"})
    _, target = run_target(config, persons_text([{**original, "name": "Interim"}, original]))
    assert counts(target, "persons") == {"created": 0, "updated": 2, "unchanged": 0, "rejected": 0}
    assert pd_get(sandbox, f"/api/v2/persons/{person['id']}")["data"]["name"] == "Original"


def test_a_record_deleted_after_the_listing_is_written_anew(sandbox: SandboxHandle) -> None:
    # The run's listing still shows the person; its PATCH finds it gone (404): created again.
    (original,) = people(1, "Soon Gone")
    run_target(pipedrive_config(sandbox), persons_text([original]))
    (person,) = [p for p in pd_all(sandbox, "persons") if p["name"] == "Soon Gone"]
    target = TargetCRM(config=pipedrive_config(sandbox, match_keys={"persons": "email"}))
    writer = target.run.writer_for("persons")
    index = target.run.index("persons", writer)
    assert index is not None
    index.load(writer.list_all, lambda item: str(item["id"]), keep_listed=True)
    assert index.listed(str(person["id"])) is not None
    requests.delete(
        f"{sandbox.pipedrive_url}/api/v2/persons/{person['id']}",
        headers={"x-api-token": sandbox.api_token},
        timeout=60,
    ).raise_for_status()

    with contextlib.redirect_stdout(io.StringIO()):
        target.listen(io.StringIO(persons_text([{**original, "name": "Back Again"}])))
    assert counts(target, "persons") == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 0}
    assert [
        p["email"] if "email" in p else p["emails"][0]["value"]
        for p in pd_all(sandbox, "persons")
        if p["name"] == "Back Again"
    ] == [original["email"]]
