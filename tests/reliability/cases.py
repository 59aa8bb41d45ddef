"""The bad-input table: what an unlucky user gives ``tap-crm`` or ``target-crm``, and what must
happen. ``test_bad_input.py`` runs every case through the real command against the reliability
sandbox; ``scripts/reliability_docs.py`` prints this table into docs/reliability.md.

A case is data, not code: the config changes, the sandbox's misbehaviour, the target's input
(``lines``: Singer messages as dicts, raw text as str) and the outcome (exit status, the
fragments the one clear stderr line names, which records are written or rejected). Names in
``written``/``rejected`` are the person names the target's input carries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.reliability.harness import URL_PASSWORD

PD, OP = "pipedrive", "onpipeline"
REMOTE_HTTP = "http://crm.example.invalid"  # never resolves: a request to it could not go out
CLOSED_PORT = "http://127.0.0.1:9"  # the discard port, on loopback: nothing listens there
ODD_KINDS = ("html", "empty", "truncated", "list", "empty_object", "data_string", "data_object")
FIVE_MB = 5 * 1024 * 1024


@dataclass(frozen=True)
class Case:
    id: str
    command: str  # "tap" | "target"
    provider: str | None  # the config's provider (None: no provider in the config)
    given: str  # the input, as the docs table says it
    happens: str  # what happens, as the docs table says it
    exit_zero: bool  # the run succeeded (bad records only rejected and reported)
    line: tuple[str, ...] = ()  # fragments one stderr line names (setting/record, what to do)
    config: dict[str, Any] = field(default_factory=dict)  # changes; None removes a key
    config_text: str | None = None  # the config file's whole text instead
    sandbox: dict[str, Any] = field(default_factory=dict)  # sandbox settings for the run
    setup: str = ""  # a named preparation (see test_bad_input.SETUPS)
    streams: tuple[str, ...] = ()  # tap: streams selected
    extra_streams: tuple[str, ...] = ()  # tap: streams the catalog selects that do not exist
    complete: tuple[str, ...] = ()  # tap: streams whose records must all be emitted
    unbookmarked: tuple[str, ...] = ()  # tap: streams no STATE may bookmark (nothing read)
    lines: tuple[Any, ...] = ()  # target: its input
    written: tuple[str, ...] = ()  # target: names the CRM holds after the run
    rejected: tuple[str, ...] = ()  # target: names in the rejected-records file
    reason: tuple[str, ...] = ()  # target: fragments each rejected record's reason names
    rejected_or_written: tuple[str, ...] = ()  # target: names (prefixes) either rejected or
    # written whole
    roundtrip: bool = False  # target: read the written names back through tap-crm, unchanged
    runtime_error: bool = False  # no "Config validation failed" after a runtime error

    @property
    def exit_text(self) -> str:
        return "0" if self.exit_zero else "non-zero"


# --- target input -------------------------------------------------------------------------

PD_SCHEMA = {
    "type": "object",
    "properties": {
        "customer_id": {"type": "string"},
        "name": {"type": "string"},
        "email": {"type": "string"},
        "age": {"type": "integer"},
    },
}
OP_SCHEMA = {
    "type": "object",
    "properties": {
        "customer_id": {"type": "string"},
        "FirstName": {"type": "string"},
        "LastName": {"type": "string"},
        "Email": {"type": "string"},
        "age": {"type": "integer"},
    },
}


def schema(provider: str, key: tuple[str, ...] = ("customer_id",), **more: Any) -> dict[str, Any]:
    properties = dict((PD_SCHEMA if provider == PD else OP_SCHEMA)["properties"])
    properties.update(more)
    return {
        "type": "SCHEMA",
        "stream": "persons",
        "schema": {"type": "object", "properties": properties},
        "key_properties": list(key),
    }


def person(provider: str, who: str, **more: Any) -> dict[str, Any]:
    """A RECORD of one person called ``who`` (Onpipeline: first name "Ada", last name ``who``),
    source key ``c-<who>``; ``more`` overrides fields (None removes one)."""
    key = {"customer_id": f"c-{who}"}
    email = f"{who[:20].lower()}@r4.test"
    if provider == PD:
        body = {**key, "name": who, "email": email}
    else:
        body = {**key, "FirstName": "Ada", "LastName": who, "Email": email}
    body.update(more)
    return {"type": "RECORD", "stream": "persons", "record": {k: v for k, v in body.items()
                                                            if v is not None}}  # fmt: skip


def state(sent: int) -> dict[str, Any]:
    return {"type": "STATE", "value": {"bookmarks": {"persons": {"sent": sent}}}}


def good_bad_good(provider: str, bad: Any, key: tuple[str, ...] = ("customer_id",),
                  **schema_more: Any) -> tuple[Any, ...]:  # fmt: skip
    """A good person, the bad line, another good person; a STATE after each."""
    return (schema(provider, key, **schema_more), person(provider, "Goodbefore"), state(1), bad,
            state(2), person(provider, "Goodafter"), state(3))  # fmt: skip


# --- the table ----------------------------------------------------------------------------

CASES: list[Case] = []


def add(*cases: Case) -> None:
    CASES.extend(cases)


for command in ("tap", "target"):
    add(
        Case(f"{command}-no-provider", command, None, "config without `provider`",
             "refused before any request", False, ("provider",),
             config={"provider": None}),
        Case(f"{command}-unknown-provider", command, "hubspot", "`provider: hubspot`",
             "refused, naming the two providers", False, ("hubspot", "pipedrive"),
             config={"provider": "hubspot"}),
        Case(f"{command}-config-not-json", command, PD, "a config file that is not JSON",
             "refused, naming the file", False, ("not valid JSON",),
             config_text='{"provider": "pipedrive", "api_token": '),
    )  # fmt: skip
    for provider in (PD, OP):
        p = "pd" if provider == PD else "op"
        add(
            Case(f"{command}-{p}-empty-token", command, provider, "`api_token: \"\"`",
                 "refused before any request", False, ("api_token",),
                 config={"api_token": ""}),
            Case(f"{command}-{p}-wrong-token", command, provider, "a token the API refuses",
                 "the API's 401 in one line naming api_token", False, ("401", "api_token"),
                 config={"api_token": "wrong-token-123"}, runtime_error=True),
            Case(f"{command}-{p}-plain-http-remote", command, provider,
                 f"`api_url: {REMOTE_HTTP}` (plain http, not loopback)",
                 "refused before any request: the token never travels in clear", False,
                 ("api_url", "https://"), config={"api_url": REMOTE_HTTP}),
            Case(f"{command}-{p}-password-in-url", command, provider,
                 "`api_url: http://user:PASSWORD@host` (a password in the URL)",
                 "refused; the password is never printed", False, ("api_url", "https://"),
                 config={"api_url": f"http://user:{URL_PASSWORD}@crm.example.invalid"}),
            Case(f"{command}-{p}-unreachable-host", command, provider,
                 "`api_url` where nothing listens, `max_request_tries: 2`",
                 "gives up after 2 tries with one line naming max_request_tries", False,
                 ("2 tries", "max_request_tries"),
                 config={"api_url": CLOSED_PORT + ("/pipedrive" if provider == PD else
                                                   "/onpipeline"),
                         "max_request_tries": 2, "request_timeout": 5}),
        )  # fmt: skip

for provider in (PD, OP):
    p = "pd" if provider == PD else "op"
    add(
        Case(f"tap-{p}-bad-start-date", "tap", provider, "`start_date: yesterday`",
             "refused, with an example of the format", False, ("start_date", "RFC 3339"),
             config={"start_date": "yesterday"}),
        Case(f"tap-{p}-unknown-setting", "tap", provider, "a misspelt setting (`page_sise`)",
             "runs, and one warning names the setting it ignores", True, ("page_sise",),
             config={"page_sise": 5}, streams=("users",)),
        Case(f"tap-{p}-catalog-unknown-stream", "tap", provider,
             "a catalog selecting a stream that does not exist (`dealz`)",
             "the other streams are read; one line says `dealz` is ignored", True,
             ("dealz", "ignored"), streams=("users",), extra_streams=("dealz",),
             complete=("users",)),
    )  # fmt: skip
add(
    Case("tap-pd-page-size-0", "tap", PD, "`page_size: 0`", "refused (1-500)", False,
         ("page_size", "minimum"), config={"page_size": 0}),
    Case("tap-pd-page-size-501", "tap", PD, "`page_size: 501`", "refused (1-500)", False,
         ("page_size", "maximum"), config={"page_size": 501}),
    Case("tap-pd-oauth-without-secret", "tap", PD,
         "OAuth with `client_id` and `refresh_token` but no `client_secret`",
         "refused before any request", False, ("client_secret",),
         config={"api_token": None, "client_id": "cid-1", "refresh_token": "rt-0123456789",
                 "oauth_token_file": "token.json"}),
    Case("tap-pd-oauth-revoked", "tap", PD, "a revoked OAuth refresh token",
         "one line: get a new one with crm-oauth", False, ("refresh token",),
         setup="revoked_refresh_token", runtime_error=True),
    Case("target-pd-oauth-revoked", "target", PD, "a revoked OAuth refresh token",
         "one line, no traceback, nothing acknowledged", False, ("refresh token",),
         setup="revoked_refresh_token", runtime_error=True,
         lines=(schema(PD), person(PD, "Never"), state(1))),
    Case("tap-op-bad-timezone", "tap", OP, "`timezone: Mars/Base`",
         "refused, with examples of IANA names", False, ("timezone", "IANA"),
         config={"timezone": "Mars/Base"}),
    Case("tap-pd-max-request-tries-0", "tap", PD, "`max_request_tries: 0`",
         "refused (at least 1)", False, ("max_request_tries",),
         config={"max_request_tries": 0}),
    Case("target-pd-bad-write-mode", "target", PD, "`write_mode: sometimes`",
         "refused, naming the three modes", False, ("write_mode", "upsert"),
         config={"write_mode": "sometimes"}, lines=(schema(PD), person(PD, "Never"))),
    Case("target-pd-match-keys-unknown-stream", "target", PD,
         "`match_keys` naming a stream the target cannot write (`widgets`)",
         "refused before any write", False, ("match_keys", "widgets"),
         config={"match_keys": {"widgets": "email"}}, lines=(schema(PD), person(PD, "Never"))),
    Case("target-pd-unknown-stream", "target", PD, "input of a stream the target cannot write",
         "one line naming the stream and the writable ones", False, ("widgets",),
         lines=({"type": "SCHEMA", "stream": "widgets", "schema": PD_SCHEMA,
                 "key_properties": []},
                {"type": "RECORD", "stream": "widgets", "record": {"name": "w"}})),
)  # fmt: skip

# The API answering an HTTP 200 that is not its envelope (crm-sandbox odd bodies).
for provider in (PD, OP):
    p = "pd" if provider == PD else "op"
    path = "/pipedrive/api/v2/persons" if provider == PD else "/onpipeline/PersonList"
    shown = "Pipedrive /api/v2/persons" if provider == PD else "Onpipeline PersonList"
    for kind in ODD_KINDS:
        add(
            Case(f"tap-{p}-odd-{kind}", "tap", provider,
                 f"{shown} answers 200 with an odd body: {kind}",
                 "one line naming the endpoint; the streams before it complete, no STATE for "
                 "the stream it broke", False,
                 ("/api/v2/persons" if provider == PD else "PersonList",),
                 sandbox={"odd_body": kind, "odd_body_rate": 1.0, "odd_body_path": path},
                 config={"max_request_tries": 2},  # it may retry; every answer is odd
                 streams=("deals", "persons"), complete=("deals",),
                 unbookmarked=("persons",), runtime_error=True),
        )  # fmt: skip
for kind in ("empty_object", "data_string"):  # a concurrent (per-parent) stream too
    add(
        Case(f"tap-pd-odd-{kind}-concurrent", "tap", PD,
             f"the followers changelogs (read concurrently) answer 200 with: {kind}",
             "one line naming the endpoint; the streams before it complete, no STATE for "
             "the stream it broke", False, ("/followers/changelog",),
             sandbox={"odd_body": kind, "odd_body_rate": 1.0,
                      "odd_body_path": "/followers/changelog"},
             config={"max_request_tries": 2, "max_concurrent_requests": 4},
             streams=("activities", "deal_followers_changelog"), complete=("activities",),
             unbookmarked=("deal_followers_changelog",), runtime_error=True),
    )  # fmt: skip

for provider, kinds in ((PD, ("html", "empty", "truncated", "data_object")),
                        (OP, ("html", "empty", "truncated", "data_string"))):  # fmt: skip
    p = "pd" if provider == PD else "op"
    path = "/pipedrive/api/v2/persons" if provider == PD else "/onpipeline/Person"
    fragment = "/api/v2/persons" if provider == PD else "Person"
    for kind in kinds:
        add(
            Case(f"target-{p}-odd-{kind}", "target", provider,
                 f"every person request of the target answered 200 with an odd body: {kind}",
                 "one line naming the endpoint, exit non-zero, no STATE for the unwritten",
                 False, (fragment,),
                 sandbox={"odd_body": kind, "odd_body_rate": 1.0, "odd_body_path": path},
                 config={"max_request_tries": 2},
                 lines=(schema(provider), person(provider, "Oddone"), state(1)),
                 runtime_error=True),
        )  # fmt: skip

# Records and lines the target must reject, report, and write around.
for provider in (PD, OP):
    p = "pd" if provider == PD else "op"
    name_field = "name" if provider == PD else "LastName"
    id_field = "id" if provider == PD else "PersonID"
    add(
        Case(f"target-{p}-malformed-json-line", "target", provider,
             "a line that is not JSON between two good records",
             "one line naming the input line; the record before it is written", False,
             ("line 4",), lines=good_bad_good(provider, "{not json"),
             written=("Goodbefore",)),
        Case(f"target-{p}-non-object-line", "target", provider,
             "a JSON line that is not an object (`[1, 2]`)",
             "one line naming the input line; the record before it is written", False,
             ("line 4",), lines=good_bad_good(provider, "[1, 2]"), written=("Goodbefore",)),
        Case(f"target-{p}-record-before-schema", "target", provider,
             "a RECORD of a stream before its SCHEMA",
             "one line naming the stream; the record before it is written", False,
             ("organizations", "SCHEMA"),
             lines=good_bad_good(provider, {"type": "RECORD", "stream": "organizations",
                                            "record": {"name": "Early Org"}}),
             written=("Goodbefore",)),
        Case(f"target-{p}-schema-violation", "target", provider,
             "a record whose value breaks its SCHEMA (`age: \"old\"` for an integer)",
             "rejected with the reason and reported; the others written, exit 0", True,
             lines=good_bad_good(provider, person(provider, "Badage", age="old")),
             written=("Goodbefore", "Goodafter"), rejected=("Badage",),
             reason=("'old'", "integer")),
        Case(f"target-{p}-missing-required", "target", provider,
             f"a record without the `{name_field}` a create needs",
             "rejected with the reason and reported; the others written, exit 0", True,
             lines=good_bad_good(provider, person(provider, "Noname", **{name_field: None})),
             written=("Goodbefore", "Goodafter"), rejected=("Noname",),
             reason=("missing required", name_field)),
        Case(f"target-{p}-wrong-id-type", "target", provider,
             f"a record whose CRM id `{id_field}` is an object",
             "rejected with the reason and reported; the others written, exit 0", True,
             lines=good_bad_good(provider, person(provider, "Badid", **{id_field: {"x": 1}}),
                                 **{id_field: {}}),
             written=("Goodbefore", "Goodafter"), rejected=("Badid",),
             reason=("id" if provider == PD else id_field,)),
        Case(f"target-{p}-match-key-two-records", "target", provider,
             "a match key (email) that two CRM records share",
             "rejected as ambiguous, naming the key; the others written, exit 0", True,
             config={"match_keys": {"persons": "email" if provider == PD else "Email"}},
             setup="twin_persons",
             lines=good_bad_good(provider, person(provider, "Twin", **{
                 ("email" if provider == PD else "Email"): "twin@r4.test"})),
             written=("Goodbefore", "Goodafter"), rejected=("Twin",),
             reason=("match key", "twin@r4.test", "2")),
        Case(f"target-{p}-five-mb-string", "target", provider,
             "a 5 MB string in a record",
             "that record rejected with the API's reason, or written whole; the others "
             "written, exit 0", True,
             lines=good_bad_good(provider, person(provider, "Huge" + "x" * FIVE_MB)),
             written=("Goodbefore", "Goodafter"), rejected_or_written=("Huge",)),
        Case(f"target-{p}-missing-source-key", "target", provider,
             "a record missing the key property (`customer_id`) its SCHEMA declares",
             "rejected with the reason and reported; the others written, exit 0", True,
             lines=good_bad_good(provider, person(provider, "Nokey", customer_id=None)),
             written=("Goodbefore", "Goodafter"), rejected=("Nokey",),
             reason=("customer_id", "key")),
        Case(f"target-{p}-missing-crm-id-key", "target", provider,
             f"SCHEMA key `{id_field}` (the CRM id) and a record without it",
             "a new record: created; exit 0", True,
             lines=(schema(provider, (id_field,), **{id_field: {}}),
                    person(provider, "Newbie"), state(1)),
             written=("Newbie",)),
        Case(f"target-{p}-unicode-roundtrip", "target", provider,
             "names with emoji, RTL and combining characters",
             "written and read back through tap-crm unchanged", True,
             lines=(schema(provider), person(provider, "Zoë🚀"), person(provider, "שלום"),
                    person(provider, "Ünïcödé\u0301"), state(3)),
             written=("Zoë🚀", "שלום", "Ünïcödé\u0301"), roundtrip=True),
    )  # fmt: skip


def case_table() -> list[dict[str, str]]:
    """The docs' rows: command, provider, input, what happens, exit status."""
    return [
        {
            "id": c.id,
            "command": "tap-crm" if c.command == "tap" else "target-crm",
            "provider": c.provider or "(none)",
            "input": c.given,
            "what happens": c.happens,
            "exit": c.exit_text,
        }
        for c in CASES
    ]


def as_text(line: Any) -> str:
    return line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)


assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


# --- what survives what: each claim and the tests that prove it ------------------------------

R = "tests/reliability"
SURVIVAL: list[dict[str, str]] = [
    {"event": "faults: 5xx, dropped connections, 429s", "side": "tap-crm",
     "survives": "every stream of both providers emits the sandbox's ids, each once",
     "tests": f"{R}/test_faults.py::test_every_pipedrive_stream_survives_5xx_drops_and_a_429_burst"
              f" {R}/test_faults.py::test_every_onpipeline_stream_survives_5xx_drops_and_a_429"},
    {"event": "faults: 5xx, dropped connections, 429s", "side": "target-crm",
     "survives": "every record written once, none created twice by a retry",
     "tests": "tests/integration/test_target_pipedrive.py::"
              "test_faults_and_dropped_connections_never_create_twice"
              " tests/integration/test_target_onpipeline.py::test_faults_never_add_a_person_twice"},
    {"event": "odd 200 bodies (HTML, empty, cut short, wrong shape)", "side": "tap-crm",
     "survives": "one line, exit non-zero, no STATE for the stream it broke",
     "tests": f"{R}/test_bad_input.py::test_bad_input"
              f" {R}/test_pipedrive_tap.py::test_after_an_odd_body_the_next_run_reads_everything"
              f" {R}/test_onpipeline.py::"
              "test_an_odd_body_ends_the_sync_and_the_next_run_still_emits_every_person"},
    {"event": "odd 200 bodies (HTML, empty, cut short, wrong shape)", "side": "target-crm",
     "survives": "one line, exit non-zero, no STATE for an unwritten record",
     "tests": f"{R}/test_bad_input.py::test_bad_input"
              f" {R}/test_onpipeline.py::"
              "test_an_odd_answer_to_a_create_that_was_applied_finds_the_record_it_added"},
    {"event": "crash (SIGKILL)", "side": "tap-crm",
     "survives": "restarted from its last STATE: every record at least once; per kill and "
                 "stream at most one page plus the bookmark's second read again (Onpipeline: "
                 "the stream in progress)",
     "tests": f"{R}/test_crash_tap.py::"
              "test_pipedrive_tap_killed_five_times_loses_nothing_and_rereads_little"
              f" {R}/test_crash_tap.py::test_onpipeline_tap_killed_mid_sync_resumes_without_loss"},
    {"event": "crash (SIGKILL)", "side": "target-crm",
     "survives": "re-run: one CRM record per source key, also with creates in flight",
     "tests": f"{R}/test_target_crash.py::"
              "test_sigkill_with_creates_in_flight_then_rerun_creates_no_duplicates"
              f" {R}/test_target_crash.py::"
              "test_sigterm_then_sigkill_then_rerun_loads_each_record_once"},
    {"event": "daily budget spent", "side": "tap-crm",
     "survives": "stops within seconds with one line, sequential and concurrent streams; the "
                 "next day's run resumes from its STATE",
     "tests": f"{R}/test_pipedrive_tap.py::"
              "test_budget_spent_in_a_sequential_stream_stops_with_one_line"
              f" {R}/test_pipedrive_tap.py::"
              "test_budget_spent_in_a_concurrent_stream_stops_with_one_line"
              " tests/integration/test_tap_pipedrive.py::"
              "test_a_spent_daily_budget_stops_in_one_line_and_the_next_day_resumes"},
    {"event": "daily budget spent", "side": "target-crm",
     "survives": "ends at once with one line, no STATE past the last written record",
     "tests": f"{R}/test_target_crash.py::"
              "test_spent_daily_budget_ends_the_load_at_once_with_one_line"},
    {"event": "cancel (SIGTERM)", "side": "tap-crm",
     "survives": "ends at once (exit 128 + the signal, one line) with a last STATE that "
                 "covers only emitted records: the restart loses nothing",
     "tests": f"{R}/test_crash_tap.py::test_tap_sigterm_mid_sync_leaves_a_state_to_resume_from"},
    {"event": "cancel (SIGTERM, SIGINT)", "side": "target-crm",
     "survives": "exit non-zero, never a STATE for a record it did not write",
     "tests": f"{R}/test_target_crash.py::"
              "test_a_signal_mid_load_never_acknowledges_unwritten_records"},
]  # fmt: skip
