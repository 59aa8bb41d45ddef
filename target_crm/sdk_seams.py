"""Every use target-crm makes of Singer SDK internals, in one place, as named hooks.

The SDK (0.54) has no public hook for these, so each is a private name of ``singer_sdk``
overridden or read here and nowhere else; ``tests/unit/test_sdk_seams.py`` pins the SDK
behaviour each one relies on, so an SDK upgrade that changes it fails a test, not a load.

- STATE: ``Target.drain_all`` emits the latest STATE through ``Target._write_state_message``
  (``may_emit_state`` decides whether it is emitted).
- Sinks: ``Target._sinks_to_clear`` (sinks a schema change archived, not drained yet) and
  ``Target._sinks_active`` (stream name -> sink) are what ``drain_all`` drains, in that order
  (``sinks_to_drain``).
- Signals: ``PluginBase.__init__`` installs ``_handle_termination`` for SIGTERM and SIGINT
  (``on_stop_signal``).
- Input: ``SingerReader.process_lines`` hands a message of no known type to
  ``_process_unknown_message`` (``unknown_message``).

The sink's validation uses the SDK's documented hook (``Sink.get_validator``), no internal.
"""

from __future__ import annotations

from types import FrameType

from singer_sdk import Sink, Target
from singer_sdk.io_base import SingerReader


class SeamedTarget(Target):
    """A Singer SDK ``Target`` whose internals target-crm relies on are named hooks."""

    def may_emit_state(self) -> bool:
        """Whether the STATE the SDK is about to emit may be emitted now (default: yes)."""
        return True

    def sinks_to_drain(self) -> tuple[list[Sink], list[Sink]]:
        """(archived, active): the sinks a SCHEMA change archived that are not drained yet,
        and the active ones; ``drain_all`` drains the archived first."""
        return list(self._sinks_to_clear), list(self._sinks_active.values())

    def on_stop_signal(self, signum: int) -> None:
        """SIGTERM or SIGINT arrived (default: the SDK's, which drains every sink, emits the
        latest STATE and exits 0)."""
        super()._handle_termination(signum, None)

    def _write_state_message(self, state: dict) -> None:
        if self.may_emit_state():
            super()._write_state_message(state)

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        self.on_stop_signal(signum)


class SeamedReader(SingerReader):
    """The SDK's reader of Singer messages, its unknown-message internal a named hook."""

    def unknown_message(self, message: dict) -> None:
        """A message whose type the SDK does not know (default: the SDK's, which raises)."""
        super()._process_unknown_message(message)

    def _process_unknown_message(self, message_dict: dict) -> None:
        self.unknown_message(message_dict)
