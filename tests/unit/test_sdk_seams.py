"""The Singer SDK behaviour behind tap_crm/sdk_seams.py and target_crm/sdk_seams.py, pinned:
an SDK upgrade that changes any of it fails here, not in a production load. And no class of
tap-crm or target-crm reaches into SDK internals except through those two modules."""

from __future__ import annotations

import importlib
import inspect
import io
import json
import os
import pkgutil
import re
import signal
from collections.abc import Iterator
from typing import Any

import pytest
import singer_sdk
from singer_sdk import Sink
from singer_sdk import typing as th
from singer_sdk.sinks import BatchSink
from singer_sdk.sinks.core import BaseJSONSchemaValidator

import tap_crm
import target_crm
from tap_crm.sdk_seams import SeamedRESTStream, SeamedTap
from tap_crm.tap import TapCRM
from target_crm.sdk_seams import SeamedReader, SeamedTarget
from target_crm.target import CRMReader, TargetCRM

SEAM_MODULES = {"tap_crm.sdk_seams", "target_crm.sdk_seams"}
PYTHON_MACHINERY = {"_abc_impl"}  # every class with an abc base gets it


def lines(*messages: dict[str, Any]) -> io.StringIO:
    return io.StringIO("".join(json.dumps(message) + "\n" for message in messages))


def schema(stream: str, *names: str) -> dict[str, Any]:
    properties = {name: {"type": "string"} for name in names}
    return {"type": "SCHEMA", "stream": stream, "schema": {"properties": properties},
            "key_properties": []}  # fmt: skip


def record(stream: str, **values: str) -> dict[str, Any]:
    return {"type": "RECORD", "stream": stream, "record": values}


STATE = {"type": "STATE", "value": {"bookmarks": {"people": {"at": "1"}}}}


class KeepSink(BatchSink):
    """Keeps what it is given; logs what the SDK asks of it, in order."""

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        self.log: list[str] = getattr(self, "log", [])
        self.log.append("get_validator")
        return Recording(self.schema, self.log)

    def preprocess_record(self, record: dict, context: dict) -> dict:
        self.log.append(f"preprocess {record.get('name')}")
        return record

    def process_batch(self, context: dict) -> None:
        self.log.append(f"batch of {len(context.get('records', []))}")


class Recording(BaseJSONSchemaValidator):
    def __init__(self, schema: dict[str, Any], log: list[str]) -> None:
        super().__init__(schema)
        self.log = log

    def validate(self, record: dict[str, Any]) -> None:
        self.log.append(f"validate {record.get('name')}")


class Probe(SeamedTarget):
    name = "target-seam-probe"
    default_sink_class = KeepSink
    config_jsonschema = th.PropertiesList().to_dict()
    hold = False
    drained: tuple[list[Sink], list[Sink]] | None = None
    stops: list[int]

    def may_emit_state(self) -> bool:
        return not self.hold

    def process_endofpipe(self) -> None:
        self.drained = self.sinks_to_drain()
        super().process_endofpipe()

    def on_stop_signal(self, signum: int) -> None:
        self.stops = [*getattr(self, "stops", []), signum]


class TapProbe(SeamedTap):
    name = "tap-seam-probe"
    config_jsonschema = th.PropertiesList().to_dict()
    stops: list[int]

    def discover_streams(self) -> list[Any]:
        return []

    def on_stop_signal(self, signum: int) -> None:
        self.stops = [*getattr(self, "stops", []), signum]


def state_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.mark.usefixtures("own_signal_handlers")
def test_the_target_emits_state_through_the_seam_and_only_when_it_may(
    capsys: pytest.CaptureFixture[str],
) -> None:
    messages = (schema("people", "name"), record("people", name="a"), STATE)
    Probe(config={}).listen(file_input=lines(*messages))
    assert state_lines(capsys.readouterr().out) == [STATE["value"]]

    held = Probe(config={})
    held.hold = True
    held.listen(file_input=lines(*messages))
    assert state_lines(capsys.readouterr().out) == []


@pytest.mark.usefixtures("own_signal_handlers")
def test_sinks_to_drain_are_the_archived_then_the_active_sinks() -> None:
    target = Probe(config={})
    target.listen(
        file_input=lines(
            schema("people", "name"),
            record("people", name="a"),
            schema("people", "name", "email"),  # a new schema archives the first sink
            record("people", name="b"),
        )
    )
    assert target.drained is not None
    archived, active = target.drained
    assert [list(s.schema["properties"]) for s in archived] == [["name"]]
    assert [list(s.schema["properties"]) for s in active] == [["name", "email"]]
    assert all(isinstance(sink, KeepSink) for sink in archived + active)


@pytest.mark.usefixtures("own_signal_handlers")
def test_a_sink_validates_each_record_with_what_get_validator_gave_before_preprocessing() -> None:
    # target_crm.sinks.CRMSink keeps the validator get_validator returns and reads its verdict
    # in preprocess_record: the SDK must ask once and validate first.
    target = Probe(config={})
    target.listen(
        file_input=lines(
            schema("people", "name"), record("people", name="a"), record("people", name="b")
        )
    )
    assert target.drained is not None
    (sink,) = target.drained[1]
    assert isinstance(sink, KeepSink)
    assert sink.log == [
        "get_validator",
        "validate a",
        "preprocess a",
        "validate b",
        "preprocess b",
        "batch of 2",
    ]


@pytest.mark.parametrize("make", [Probe, TapProbe], ids=["target", "tap"])
@pytest.mark.usefixtures("own_signal_handlers")
def test_sigterm_and_sigint_reach_on_stop_signal(make: Any) -> None:
    plugin = make(config={})
    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGINT)
    assert plugin.stops == [signal.SIGTERM, signal.SIGINT]


def test_a_message_of_no_known_type_reaches_unknown_message() -> None:
    seen: list[dict[str, Any]] = []

    class Reader(SeamedReader):
        def unknown_message(self, message: dict) -> None:
            seen.append(message)

    Reader().process_lines(lines({"type": "GOSSIP", "about": "x"}), callbacks={})
    assert seen == [{"type": "GOSSIP", "about": "x"}]


def test_the_plugins_use_the_seams() -> None:
    assert issubclass(TargetCRM, SeamedTarget)
    assert issubclass(CRMReader, SeamedReader)
    assert issubclass(TapCRM, SeamedTap)


# --- no SDK internals outside the seams -------------------------------------------------------


def sdk_private_names(cls: type) -> set[str]:
    """The private methods and attributes of ``cls``'s Singer SDK base classes."""
    names: set[str] = set()
    for base in cls.__mro__:
        if not base.__module__.startswith("singer_sdk"):
            continue
        names |= {n for n in vars(base) if n.startswith("_") and not n.startswith("__")}
        names |= set(re.findall(r"self\.(_[a-z]\w*)\s*[:=]", inspect.getsource(base)))
    return names - PYTHON_MACHINERY


def project_classes() -> Iterator[type]:
    """The classes of tap_crm and target_crm that derive from a Singer SDK class."""
    for package in (tap_crm, target_crm):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(info.name)
            for value in vars(module).values():
                if (
                    inspect.isclass(value)
                    and value.__module__ == module.__name__
                    and any(b.__module__.startswith("singer_sdk") for b in value.__mro__[1:])
                ):
                    yield value


def test_the_finder_sees_sdk_classes_and_their_internals() -> None:
    found = set(project_classes())
    assert {TargetCRM, CRMReader, TapCRM, SeamedTarget, SeamedTap} <= found
    assert {"_write_state_message", "_sinks_active", "_validator"} <= sdk_private_names(
        singer_sdk.Target
    ) | sdk_private_names(Sink)


def test_no_class_outside_the_seams_overrides_or_reads_an_sdk_internal() -> None:
    reaching = {}
    for cls in project_classes():
        if cls.__module__ in SEAM_MODULES:
            continue
        private = sdk_private_names(cls)
        overridden = {name for name in vars(cls) if name in private}
        source = inspect.getsource(cls)
        read = set(re.findall(r"(?:self|super\(\))\.(_[a-z]\w*)", source)) & private
        if overridden | read:
            reaching[f"{cls.__module__}.{cls.__qualname__}"] = sorted(overridden | read)
    assert not reaching, f"SDK internals used outside the sdk_seams modules: {reaching}"


# --- the record-message step of a stream (SeamedRESTStream) -----------------------------------


class NestedStream(SeamedRESTStream):
    name = "things"
    path = "/things"
    url_base = "http://127.0.0.1"
    schema = th.PropertiesList(  # type: ignore[assignment]
        th.Property("id", th.IntegerType),
        th.Property("when", th.DateTimeType),
        th.Property(
            "inner",
            th.ObjectType(th.Property("a", th.StringType), th.Property("b", th.StringType)),
        ),
    ).to_dict()


class NestedTap(SeamedTap):
    name = "tap-nested-probe"
    config_jsonschema = th.PropertiesList().to_dict()

    def discover_streams(self) -> list[Any]:
        return [NestedStream(self)]


def nested_record() -> dict[str, Any]:
    return {"id": 1, "when": "2024-01-02T03:04:05Z", "inner": {"a": "x", "b": "y"}}


def sdk_messages(stream: SeamedRESTStream, record: dict[str, Any]) -> list[dict[str, Any]]:
    """What the SDK's own method makes of the record (time_extracted left out: it is now)."""
    made = singer_sdk.Stream._generate_record_messages(stream, record)
    return [{**m.to_dict(), "time_extracted": None} for m in made]


def seam_messages(stream: SeamedRESTStream, record: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {**m.to_dict(), "time_extracted": None} for m in stream._generate_record_messages(record)
    ]


def test_the_sdk_still_builds_record_messages_in_the_steps_the_seam_repeats() -> None:
    # SeamedRESTStream repeats the SDK's method minus its deselection walk: an SDK whose
    # method has other steps must fail here first.
    source = inspect.getsource(singer_sdk.Stream._generate_record_messages)
    source = source.split('"""')[2]  # the body, after the docstring
    steps = re.findall(
        r"pop_deselected_record_properties|conform_record_data_types|stream_maps|"
        r"stream_map\.transform|RecordMessage|stream_alias|_stream_version|utc_now",
        source,
    )
    assert steps == [
        "pop_deselected_record_properties",
        "conform_record_data_types",
        "stream_maps",
        "stream_map.transform",
        "RecordMessage",
        "stream_alias",
        "_stream_version",
        "utc_now",
    ]


@pytest.mark.usefixtures("own_signal_handlers")
def test_without_deselected_properties_the_seam_makes_the_sdks_messages_without_the_walk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = NestedTap(config={}).streams["things"]
    assert isinstance(stream, SeamedRESTStream)
    assert stream.deselects_nothing
    walked: list[Any] = []
    monkeypatch.setattr(
        "singer_sdk.streams.core.pop_deselected_record_properties",
        lambda *args: walked.append(args),
    )
    assert seam_messages(stream, nested_record()) == sdk_messages(stream, nested_record())
    assert len(walked) == 1  # the SDK's method walked; the seam did not
    (message,) = stream._generate_record_messages(nested_record())
    assert message.time_extracted is not None
    assert message.time_extracted.tzinfo is not None


@pytest.mark.usefixtures("own_signal_handlers")
def test_a_deselected_property_is_still_dropped_by_the_sdks_walk() -> None:
    catalog = NestedTap(config={}).catalog_dict
    (entry,) = catalog["streams"]
    for meta in entry["metadata"]:
        if meta["breadcrumb"] == ["properties", "inner", "properties", "b"]:
            meta["metadata"]["selected"] = False
    stream = NestedTap(config={}, catalog=catalog).streams["things"]
    assert isinstance(stream, SeamedRESTStream)
    assert not stream.deselects_nothing
    (message,) = seam_messages(stream, nested_record())
    assert message["record"] == {"id": 1, "when": "2024-01-02T03:04:05Z", "inner": {"a": "x"}}
