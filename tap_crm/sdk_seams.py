"""Every use tap-crm makes of Singer SDK internals, in one place, as named hooks.

The SDK (0.54) has no public hook for what a tap does on SIGTERM/SIGINT: ``PluginBase.__init__``
installs ``_handle_termination`` for both (``Tap``'s writes the STATE, then exits 0). It is
overridden here and nowhere else; ``tests/unit/test_sdk_seams.py`` pins that the SDK still
installs it, so an SDK upgrade that changes it fails a test, not a run.

(Not ``signal.signal`` after ``Tap.__init__``: the SDK discovers streams inside its
``__init__``, after installing its handler, and discovery may already call the API.)
"""

from __future__ import annotations

from types import FrameType

from singer_sdk import Tap


class SeamedTap(Tap):
    """A Singer SDK ``Tap`` whose signal handling internal is a named hook."""

    def on_stop_signal(self, signum: int) -> None:
        """SIGTERM or SIGINT arrived (default: the SDK's, which writes the STATE and exits
        0)."""
        super()._handle_termination(signum, None)

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        self.on_stop_signal(signum)
