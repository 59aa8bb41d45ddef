"""Every use tap-crm makes of Singer SDK internals, in one place, as named hooks.

Two of them: the signal handler (``SeamedTap``) and the record-message step of a stream
(``SeamedRESTStream``).

The SDK (0.54) has no public hook for what a tap does on SIGTERM/SIGINT: ``PluginBase.__init__``
installs ``_handle_termination`` for both (``Tap``'s writes the STATE, then exits 0). It is
overridden here and nowhere else; ``tests/unit/test_sdk_seams.py`` pins that the SDK still
installs it, so an SDK upgrade that changes it fails a test, not a run.

(Not ``signal.signal`` after ``Tap.__init__``: the SDK discovers streams inside its
``__init__``, after installing its handler, and discovery may already call the API.)
"""

from __future__ import annotations

from collections.abc import Generator
from functools import cached_property
from types import FrameType
from typing import Any

from singer_sdk import RESTStream, Tap
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.types import Record
from singer_sdk.singerlib import RecordMessage


class SeamedTap(Tap):
    """A Singer SDK ``Tap`` whose signal handling internal is a named hook."""

    def on_stop_signal(self, signum: int) -> None:
        """SIGTERM or SIGINT arrived (default: the SDK's, which writes the STATE and exits
        0)."""
        super()._handle_termination(signum, None)

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        self.on_stop_signal(signum)


class SeamedRESTStream(RESTStream[Any]):
    """A Singer SDK ``RESTStream`` whose per-record message building skips what a stream
    without deselected properties does not need.

    The SDK (0.54) has no public hook around ``Stream._generate_record_messages``: for every
    record it walks every key of every nested dict (``pop_deselected_record_properties``)
    to drop deselected properties, although a catalog rarely deselects any; for the deals
    stream that walk was a third of the tap's CPU (issue 12). When the stream's selection
    mask deselects nothing, the record goes on exactly as the SDK would send it, minus the
    walk; otherwise the SDK's own method runs. ``tests/unit/test_sdk_seams.py`` pins the
    SDK's method (its steps, and the same messages from both paths)."""

    @cached_property
    def deselects_nothing(self) -> bool:
        """No property of this stream is deselected: the catalog is applied before a sync
        starts, so the mask is final by the first record."""
        return all(self.mask.values())

    def _generate_record_messages(self, record: Record) -> Generator[RecordMessage, None, None]:
        if not self.deselects_nothing:
            yield from super()._generate_record_messages(record)
            return
        # The SDK's method after its deselection walk, step for step.
        record = conform_record_data_types(
            stream_name=self.name,
            record=record,
            schema=self.effective_schema,
            level=self.TYPE_CONFORMANCE_LEVEL,
            logger=self.logger,
        )
        for stream_map in self.stream_maps:
            mapped_record = stream_map.transform(record)
            if mapped_record is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped_record,
                    version=self._stream_version,
                    time_extracted=utc_now(),
                )
