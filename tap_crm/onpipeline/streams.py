"""onpipeline streams (placeholder until its issue lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from singer_sdk import Stream, Tap

SETTINGS: list[Any] = []


def discover_streams(tap: Tap) -> list[Stream]:
    return []
