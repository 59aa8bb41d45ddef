"""TapCRM: the settings, and the chosen provider's streams.

Each provider package (``tap_crm.pipedrive``, ``tap_crm.onpipeline``) exposes, in its
``streams`` module, ``SETTINGS`` (its own config properties) and ``discover_streams(tap)``,
and optionally ``config_problems(config) -> list[str]`` (one clear line per setting that
cannot work, checked before any request). This module only knows the shared settings and
which provider to ask.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from singer_sdk.singerlib import Message, RecordMessage

from crm_api.cli import config_file_problem, unknown_settings
from crm_api.governor import BudgetExhaustedError
from crm_api.pipedrive import DailyBudgetSpentError, PipedriveError, RunCapReachedError
from crm_api.urls import UnsafeURLError, check_url
from tap_crm.onpipeline import streams as onpipeline
from tap_crm.pipedrive import streams as pipedrive
from tap_crm.sdk_seams import SeamedTap
from tap_crm.settings import COMMON_SETTINGS, ONPIPELINE_SETTINGS, PIPEDRIVE_SETTINGS

if TYPE_CHECKING:
    from singer_sdk import Stream
    from singer_sdk.singerlib import Catalog

PROVIDERS = {"pipedrive": pipedrive, "onpipeline": onpipeline}

# Errors the tap reports itself in one line that says what to change (``invoke``).
OWN_LINE_ERRORS = (FatalAPIError, PipedriveError, BudgetExhaustedError, ConfigValidationError)

# The exit status of a run that stopped at its token cap (max_tokens_per_run,
# daily_budget_share) with a resumable state: not 0, because the sync is not done and
# whatever waits for a complete extract (a dbt run, an alert) must not take it for one;
# not 1, because nothing is wrong: a scheduler runs again (later, or the next day) and the
# sync continues where it stopped. docs/costs.md says so.
EXIT_STOPPED_AT_CAP = 3


def common_problems(config: dict[str, Any]) -> list[str]:
    """Shared settings that cannot work, one clear line each."""
    problems = []
    start = config.get("start_date")
    if start:
        try:
            moment = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is None:
            problems.append(
                f"start_date {start!r} is not an RFC 3339 date-time; use e.g. 2024-01-31T00:00:00Z"
            )
    # Pipedrive's URLs are refused before anything is sent when plain http to a remote host
    # would carry the token in clear; the line names the host only (never a password inside
    # the URL). Onpipeline's config_problems applies its own rule to its api_url.
    if config.get("provider") == "pipedrive":
        for setting in ("api_url", "oauth_url"):
            url = config.get(setting)
            if url:
                try:
                    check_url(str(url), setting, "Pipedrive")
                except UnsafeURLError as exc:
                    problems.append(str(exc))
    return problems


def collect_cycles_rarely() -> None:
    """The command's process only: a sync makes and drops a dict per record, by the hundred
    thousand, and none of them in a reference cycle, yet the cyclic collector ran every 700
    allocations and its older generations walked everything alive (the SDK's modules, the
    pages buffered while read ahead): 11% of a deals sync's CPU (issue 12). Cycles are
    still collected, just in larger batches; what the imports made is set aside."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


class RecordBatchingWriter(MsgSpecWriter):
    """The SDK's msgspec message writer (same JSON lines as its default writer, encoded in C:
    a fifth of the tap's CPU went to encoding, issue 12), flushing at every message but a
    RECORD. The SDK flushes after each record, a write system call per record; here records
    leave with the buffer or the next STATE, which always flushes, so a STATE never reaches
    the target before the records it covers, and exit or a stop signal flush the rest."""

    def write_message(self, message: Message) -> None:
        out = sys.stdout.buffer
        out.write(self.format_message(message))
        if not isinstance(message, RecordMessage):
            sys.stdout.flush()


class _OneLinePerError(logging.Filter):
    """Drops the SDK's "An unhandled error occurred while syncing" line (logged inside its
    ``except`` block, so ``sys.exc_info`` is the error) when the error is one the tap says in
    its own line; a bug keeps it, with its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("An unhandled error occurred while syncing"):
            return True
        return not isinstance(sys.exc_info()[1], OWN_LINE_ERRORS)


class TapCRM(SeamedTap):
    """Singer tap for Pipedrive and Onpipeline."""

    name = "tap-crm"
    package_name = "crm-singer"  # the distribution: `--version` and `--about` read its version
    dynamic_catalog = True  # custom fields become columns, read from the account at discovery
    message_writer_class = RecordBatchingWriter  # the SDK's documented writer hook
    discovery_order: list[str] = []  # the provider's stream names, in its order

    config_jsonschema = th.PropertiesList(
        *COMMON_SETTINGS,
        *PIPEDRIVE_SETTINGS,
        *ONPIPELINE_SETTINGS,
    ).to_dict()

    def discover_streams(self) -> list[Stream]:
        # Checked here, not after __init__: the SDK discovers streams while constructing the
        # tap (to set up stream maps), and discovery may already call the API.
        provider = PROVIDERS[self.config["provider"]]
        problems = common_problems(dict(self.config))
        check = getattr(provider, "config_problems", None)
        if check is not None:
            problems += check(dict(self.config))
        if problems:
            raise ConfigValidationError(problems[0], errors=problems)
        # A PipedriveError here (a refused token while reading custom fields) is a runtime
        # problem, not a config one: it reaches invoke/run_discovery as itself, so its line
        # is not followed by the SDK's "Config validation failed".
        for line in unknown_settings(self.name, self.config, self.config_jsonschema):
            self.logger.warning("%s", line)
        streams = list(provider.discover_streams(self))
        self._warn_unknown_selections({stream.name for stream in streams})
        self.discovery_order = [stream.name for stream in streams]
        return streams

    def describe_in_discovery_order(self) -> None:
        """Schemas are built on first use (a sync with a catalog reads only its streams'
        custom-field definitions); a catalog of every stream builds them in the provider's
        order, as before: deals first, so discovery's first request and its error line stay
        the deals' fields."""
        streams = self.streams  # discovers them, which sets discovery_order
        for name in self.discovery_order:
            _ = streams[name].schema

    @property
    def catalog(self) -> Catalog:
        # The SDK builds its working catalog (from every stream's schema) while setting up
        # the stream maps, when no catalog was given.
        if self.input_catalog is None:
            self.describe_in_discovery_order()
        return super().catalog

    @property
    def catalog_dict(self) -> dict[str, Any]:
        self.describe_in_discovery_order()
        return super().catalog_dict

    def sync_all(self) -> None:  # type: ignore[misc]  # final in the SDK; wrapped, not changed
        # The provider may log what the run will cost before it spends (before_sync). A run
        # stopped by the day's budget or its own token cap hands over its state at once, as
        # the SDK does on SIGTERM: the STATE covers every emitted record and no other.
        provider = PROVIDERS[self.config["provider"]]
        # A setting a sync needs but a discovery does not (Onpipeline's api_token): said once
        # here, not as the SDK's "unhandled error" inside the first stream.
        problems: list[str] = getattr(provider, "sync_problems", lambda config: [])(
            dict(self.config)
        )
        if problems:
            raise ConfigValidationError(problems[0], errors=problems)
        quiet = _OneLinePerError()
        for stream in self.streams.values():
            stream.logger.addFilter(quiet)
        before = getattr(provider, "before_sync", None)
        try:
            if before is not None:
                before(self)
            super().sync_all()
        except DailyBudgetSpentError:
            self.state_writer.write_state(self.state)
            raise

    def _warn_unknown_selections(self, names: set[str]) -> None:
        """A catalog selecting a stream this tap does not have is otherwise ignored silently
        (a typo, or a stream of the other provider)."""
        catalog = self.input_catalog
        if catalog is None:
            return
        for stream_id, entry in catalog.items():
            if stream_id not in names and entry.metadata.root.selected:
                self.logger.warning(
                    "catalog selects stream '%s', which tap-crm (%s) does not have; it is ignored",
                    stream_id,
                    self.config.get("provider"),
                )

    def on_stop_signal(self, signum: int) -> None:
        """SIGTERM/SIGINT (a cancelled or timed-out orchestrator run): the SDK writes the last
        STATE (it covers only emitted records) and exits 0, so a cancelled extract would look
        complete to whatever runs after it. Same STATE, then one line and 128 + the signal."""
        try:
            self.state_writer.write_state(self.state)
        finally:
            self.logger.warning(
                "tap-crm stopped by %s before the sync was complete; the last STATE covers "
                "every record emitted: run again to continue from it",
                signal.Signals(signum).name,
            )
            sys.exit(128 + signum)

    @classmethod
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> Any:
        # The SDK reads --config while parsing arguments, where a file that is not JSON is a
        # traceback: say which file and what is wrong in one line instead.
        problem = config_file_problem(value)
        if problem:
            cls.logger.error("%s", problem)
            ctx.exit(1)
        return super().cb_config(ctx, param, value)

    def run_discovery(self) -> str:
        # `--discover` builds the tap inside the SDK's ConfigValidationError guard but
        # discovers after it, so a refused token there would surface as a traceback.
        try:
            return super().run_discovery()
        except ConfigValidationError as exc:
            for error in exc.errors or [str(exc)]:
                self.logger.error("%s", error)
            sys.exit(1)
        except (FatalAPIError, PipedriveError, BudgetExhaustedError) as exc:
            self.logger.error("%s", exc)
            sys.exit(1)

    @classmethod
    def invoke(cls, *args: Any, **kwargs: Any) -> None:
        # A problem the user must fix (bad token, refused setting) ends in one clear line,
        # not a traceback: the message already names the stream and the setting.
        collect_cycles_rarely()
        try:
            super().invoke(*args, **kwargs)
        except RunCapReachedError as exc:
            cls.logger.warning("%s", exc)
            sys.exit(EXIT_STOPPED_AT_CAP)
        except (FatalAPIError, PipedriveError, BudgetExhaustedError) as exc:
            cls.logger.error("%s", exc)
            sys.exit(1)


if __name__ == "__main__":
    TapCRM.cli()
