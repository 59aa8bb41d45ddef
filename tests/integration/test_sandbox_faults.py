"""crm-sandbox's odd 200 bodies (``odd_body*`` settings), against the real simulated APIs.

A proxy answering garbage or an API bug: the client gets an HTTP 200 whose body is not the
answer it expects. Each kind, the path filter, the count, the seeded dice, and the refusals.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import requests

from crm_sandbox.core import ODD_BODY_KINDS
from crm_sandbox.testing import SandboxControlError, SandboxHandle, running_sandbox


def pd_get(sandbox: SandboxHandle, path: str = "/api/v2/deals") -> requests.Response:
    return requests.get(
        f"{sandbox.pipedrive_url}{path}", headers={"x-api-token": sandbox.api_token}, timeout=60
    )


def op_post(sandbox: SandboxHandle, resource: str, body: Any = None) -> requests.Response:
    return requests.post(
        f"{sandbox.onpipeline_url}/{resource}",
        data=json.dumps(body or {}).encode(),
        headers={"Authorization": sandbox.api_token},
        timeout=60,
    )


def odd_count(sandbox: SandboxHandle) -> int:
    return sandbox.counters()["events"].get("odd_bodies", 0)


def test_odd_bodies_are_off_by_default(sandbox: SandboxHandle) -> None:
    settings = sandbox.settings()
    assert (settings["odd_body"], settings["odd_body_rate"]) == ("", 0.0)
    assert pd_get(sandbox).json()["success"] is True
    assert odd_count(sandbox) == 0


@pytest.mark.parametrize(
    ("kind", "content_type", "check"),
    [
        ("html", "text/html", lambda body: body.startswith(b"<!DOCTYPE html>")),
        ("empty", "application/json", lambda body: body == b""),
        ("list", "application/json", lambda body: json.loads(body) == []),
        ("empty_object", "application/json", lambda body: json.loads(body) == {}),
    ],
)
def test_proxy_kinds_answer_200_with_their_body_on_both_apis(
    sandbox: SandboxHandle, kind: str, content_type: str, check: Any
) -> None:
    sandbox.configure(odd_body=kind, odd_body_rate=1)
    for response in (pd_get(sandbox), op_post(sandbox, "PersonList")):
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith(content_type)
        assert check(response.content), response.content[:200]
    assert odd_count(sandbox) == 2
    assert sandbox.counters()["statuses"] == {"200": 2}


def test_truncated_is_the_real_body_cut_in_half(sandbox: SandboxHandle) -> None:
    whole = pd_get(sandbox).content
    sandbox.configure(odd_body="truncated", odd_body_rate=1)
    cut = pd_get(sandbox)
    assert cut.status_code == 200
    assert cut.content == whole[: len(whole) // 2]
    with pytest.raises(json.JSONDecodeError, match=r"Unterminated|Expecting"):
        json.loads(cut.content)


def test_data_string_keeps_each_providers_success_envelope(sandbox: SandboxHandle) -> None:
    sandbox.configure(odd_body="data_string", odd_body_rate=1)
    pipedrive = pd_get(sandbox).json()
    assert (pipedrive["success"], pipedrive["data"]) == (True, "oops")
    onpipeline = op_post(sandbox, "PersonList").json()
    assert onpipeline["Header"]["Code"] == "200"
    assert onpipeline["Data"] == "oops"


def test_data_object_puts_an_object_where_a_list_belongs(sandbox: SandboxHandle) -> None:
    deals = pd_get(sandbox).json()["data"]
    sandbox.configure(odd_body="data_object", odd_body_rate=1)
    pipedrive = pd_get(sandbox).json()
    assert pipedrive["success"] is True
    assert pipedrive["data"] == deals[0]  # the list's first item, not a list
    onpipeline = op_post(sandbox, "PersonList").json()
    assert isinstance(onpipeline["Data"], dict)


def test_proxy_kinds_never_reach_the_api_and_altered_answers_did(sandbox: SandboxHandle) -> None:
    person = {"FirstName": "Ada", "LastName": "Lovelace"}
    before = len(sandbox.control("GET", "/onpipeline/ids/persons")["ids"])
    sandbox.configure(odd_body="html", odd_body_rate=1)
    assert op_post(sandbox, "PersonAdd", person).status_code == 200
    assert len(sandbox.control("GET", "/onpipeline/ids/persons")["ids"]) == before
    sandbox.configure(odd_body="truncated")
    created = op_post(sandbox, "PersonAdd", person)
    assert created.status_code == 200  # the API's 201, cut in half on its way back
    assert len(sandbox.control("GET", "/onpipeline/ids/persons")["ids"]) == before + 1


def test_altering_kinds_leave_error_answers_alone(sandbox: SandboxHandle) -> None:
    sandbox.configure(odd_body="data_string", odd_body_rate=1, odd_body_count=1)
    refused = requests.get(
        f"{sandbox.pipedrive_url}/api/v2/deals", headers={"x-api-token": "wrong"}, timeout=60
    )
    assert refused.status_code == 401
    assert odd_count(sandbox) == 0
    assert pd_get(sandbox).json()["data"] == "oops"  # the turn was not used up by the 401
    assert pd_get(sandbox).json()["data"] != "oops"


def test_count_serves_the_first_n_then_normal_again(sandbox: SandboxHandle) -> None:
    sandbox.configure(odd_body="list", odd_body_rate=1, odd_body_count=2)
    bodies = [pd_get(sandbox).json() for _ in range(4)]
    assert bodies[:2] == [[], []]
    assert all(isinstance(b, dict) and b["success"] for b in bodies[2:])
    assert odd_count(sandbox) == 2
    sandbox.configure(odd_body_count=1)  # changing an odd_body setting counts from now
    assert pd_get(sandbox).json() == []
    assert pd_get(sandbox).json()["success"] is True


def test_path_names_the_requests_that_get_odd_bodies(sandbox: SandboxHandle) -> None:
    sandbox.configure(odd_body="empty_object", odd_body_rate=1, odd_body_path="/api/v2/persons")
    assert pd_get(sandbox, "/api/v2/persons").json() == {}
    assert pd_get(sandbox, "/api/v2/deals").json()["success"] is True
    assert op_post(sandbox, "PersonList").json()["Header"]["Code"] == "200"
    sandbox.configure(odd_body_path="/onpipeline/")  # the provider prefix is part of the path
    assert op_post(sandbox, "PersonList").json() == {}
    assert pd_get(sandbox, "/api/v2/persons").json()["success"] is True


def test_oauth_and_control_are_spared_unless_the_path_names_oauth(
    sandbox: SandboxHandle,
) -> None:
    sandbox.configure(odd_body="html", odd_body_rate=1)
    assert sandbox.settings()["odd_body"] == "html"  # the control endpoint answers JSON
    token_url = f"{sandbox.pipedrive_url}/oauth/token"
    refused = requests.post(token_url, data={"grant_type": "refresh_token"}, timeout=60)
    assert refused.status_code == 401  # OAuth's own answer: no client credentials
    assert refused.json()
    sandbox.configure(odd_body_path="/oauth/token")
    odd = requests.post(token_url, data={"grant_type": "refresh_token"}, timeout=60)
    assert (odd.status_code, odd.headers["Content-Type"][:9]) == (200, "text/html")


def _pattern(sandbox: SandboxHandle, seed: int) -> list[bool]:
    sandbox.reset(seed=seed, odd_body="empty_object", odd_body_rate=0.5)
    return [pd_get(sandbox).json() == {} for _ in range(24)]


def test_which_answers_are_odd_repeats_with_the_seed(sandbox: SandboxHandle) -> None:
    first = _pattern(sandbox, 11)
    assert 0 < sum(first) < len(first)
    assert _pattern(sandbox, 11) == first
    assert _pattern(sandbox, 12) != first


def test_odd_bodies_leave_the_fault_sequence_of_a_seed_as_it_was(sandbox: SandboxHandle) -> None:
    def faults(**odd: Any) -> list[int]:
        sandbox.reset(seed=5, fault_rate=0.3, **odd)
        return [pd_get(sandbox).status_code for _ in range(20)]

    plain = faults()
    assert {500, 502, 503} & set(plain)
    assert faults(odd_body="list", odd_body_rate=0.5) == plain  # same requests faulted


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"odd_body": "xml"}, "odd_body must be one of html, empty, list"),
        ({"odd_body_rate": 2}, "odd_body_rate must be a share between 0 and 1"),
        ({"odd_body_count": -1}, "odd_body_count must be >= 0"),
        ({"odd_body_path": 3}, "odd_body_path must be a string"),
    ],
)
def test_bad_odd_body_settings_are_a_400_that_says_what_to_change(
    sandbox: SandboxHandle, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(SandboxControlError, match=message):
        sandbox.configure(**change)
    assert sandbox.settings()["odd_body"] == ""


def test_every_kind_is_accepted_and_named_in_the_cli_help(sandbox: SandboxHandle) -> None:
    for kind in ODD_BODY_KINDS:
        assert sandbox.configure(odd_body=kind)["odd_body"] == kind
    helped = subprocess.run(
        [sys.executable, "-m", "crm_sandbox", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert all(kind in helped for kind in ODD_BODY_KINDS)


def test_cli_refuses_an_unknown_kind_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "crm_sandbox", "serve", "--odd-body", "xml"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "--odd-body: must be one of html" in done.stderr


def test_a_sandbox_process_takes_odd_body_flags() -> None:
    # running_sandbox(in_process=False) passes every setting as a flag, "" included
    with running_sandbox(in_process=False, size=3, odd_body="list", odd_body_rate=1) as sb:
        assert pd_get(sb).json() == []
        assert sb.settings()["odd_body_path"] == ""
