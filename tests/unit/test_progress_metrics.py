"""Long syncs show progress: a record count per stream every few seconds, for both providers."""

from __future__ import annotations

import pytest

from tap_crm import PROGRESS_LOG_SECONDS
from tap_crm.tap import TapCRM


@pytest.mark.parametrize("provider", ["pipedrive", "onpipeline"])
def test_every_stream_counts_records_every_few_seconds(provider: str) -> None:
    # No credentials: discovery lists every stream with its base schema and calls nothing.
    tap = TapCRM(config={"provider": provider}, parse_env_config=False)
    streams = list(tap.streams.values())
    assert streams
    for stream in streams:
        assert stream.get_record_counter().log_interval == PROGRESS_LOG_SECONDS <= 5, stream.name
