"""TargetCRM: settings, one sink per writable stream, the end-of-run report."""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any

from singer_sdk import Sink
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, RecordsWithoutSchemaException
from singer_sdk.singerlib.exceptions import InvalidInputLine
from singer_sdk.singerlib.json import deserialize_json

from crm_api import settings as shared
from crm_api.cli import config_file_problem, unknown_settings
from crm_api.onpipeline import OnpipelineConfigError
from crm_api.pipedrive import PipedriveError
from crm_api.retry import UnrecoverableError, settle_seconds
from target_crm import onpipeline, pipedrive
from target_crm.entities import TargetSetupError
from target_crm.idmap import IdMap, WaitingRoom
from target_crm.report import Report
from target_crm.sdk_seams import SeamedReader, SeamedTarget
from target_crm.sinks import CRMSink, Run, check_match_keys

PROVIDERS = {"pipedrive": pipedrive, "onpipeline": onpipeline}


class LoadFailedError(Exception):
    """The run ended, but not well enough (too many rejected records)."""


class InterruptedByError(BaseException):
    """SIGTERM or SIGINT arrived: raised in the main thread wherever it was (a BaseException,
    so that no ``except Exception`` on the way takes it for a record's failure)."""

    def __init__(self, signum: int, target: TargetCRM) -> None:
        super().__init__(signum)
        self.signum = signum
        self.target = target


class StoppedError(Exception):
    """The load was stopped by a signal; ``str`` is the one line, ``code`` the exit status."""

    def __init__(self, message: str, code: int, abandoned: bool) -> None:
        super().__init__(message)
        self.code = code
        self.abandoned = abandoned


class BadLineError(Exception):
    """An input line that is not a Singer message; ``str`` names the line."""


class RecordBeforeSchemaError(TargetSetupError, RecordsWithoutSchemaException):
    """A RECORD before its stream's SCHEMA: the SDK's error, as one line."""


class CRMReader(SeamedReader):
    """The SDK's reader, but a bad input line ends the *input*, not the run.

    With the SDK's reader a line that is not JSON, not an object, of no known type, or a
    RECORD before its SCHEMA raises a traceback out of the read loop, and the records
    buffered before it are never written. Here the read stops at that line: the target then
    writes what came before, emits the STATE that is true, and ends with one line naming
    the bad one (``problem``), exit 1.
    """

    def __init__(self) -> None:
        super().__init__()
        self.line_number = 0
        self.problem: TargetSetupError | None = None

    def process_lines(self, file_input: Any, callbacks: dict[str, Any]) -> Any:
        self.line_number = 0
        try:
            return super().process_lines(file_input, callbacks)
        except (BadLineError, InvalidInputLine, RecordsWithoutSchemaException) as exc:
            text = str(exc.args[0] if exc.args else exc).split(". Check that")[0]
            if not isinstance(exc, BadLineError):
                text = f"input line {self.line_number}: {text[:300]}"
            kind = (
                RecordBeforeSchemaError
                if isinstance(exc, RecordsWithoutSchemaException)
                else TargetSetupError
            )
            self.problem = kind(
                f"{text}; the input ends there (the records before it are written): fix what "
                "produces the input and run again"
            )
            return Counter()

    def deserialize_json(self, line: str) -> dict:
        self.line_number += 1
        try:
            message = deserialize_json(line)
        except ValueError as exc:
            raise BadLineError(
                f"input line {self.line_number} is not JSON ({str(exc)[:120]})"
            ) from None
        if not isinstance(message, dict):
            kind = type(message).__name__
            raise BadLineError(
                f"input line {self.line_number} is a JSON {kind}, not a Singer message object"
            )
        return message

    def unknown_message(self, message: dict) -> None:
        raise BadLineError(
            f"input line {self.line_number} has the unknown message type "
            f"{str(message.get('type'))[:40]!r} (known: SCHEMA, RECORD, STATE, "
            "ACTIVATE_VERSION, BATCH)"
        )


class TargetCRM(SeamedTarget):
    """Singer target that creates and updates records in Pipedrive or Onpipeline."""

    name = "target-crm"
    package_name = "crm-singer"  # the distribution: `--version` and `--about` read its version
    default_sink_class = CRMSink
    message_reader_class = CRMReader

    config_jsonschema = th.PropertiesList(
        shared.provider("target"),
        shared.API_TOKEN,
        shared.API_URL,
        *shared.PIPEDRIVE_OAUTH,
        th.Property(
            "match_keys",
            th.ObjectType(
                additional_properties=th.CustomType(
                    {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
                )
            ),
            description="How to find the CRM record a source record is, per stream, when it "
            "carries no CRM id: a field name or a list of them (all must match), e.g. "
            '{"persons": "email", "organizations": "name", "deals": "external_id"}. Custom '
            "fields by their readable name or API key. A key that matches several records "
            "rejects the record.",
        ),
        th.Property(
            "write_mode",
            th.StringType,
            default="upsert",
            allowed_values=["upsert", "create_only", "update_only"],
            description="`upsert`: update what exists, create the rest. `create_only`: leave "
            "existing records alone (counted unchanged). `update_only`: never create; a record "
            "with no match is rejected.",
        ),
        th.Property(
            "record_ids",
            th.StringType,
            default="crm",
            allowed_values=["crm", "source"],
            description="What the CRM id field of incoming records (`id` on Pipedrive; "
            "PersonID, OrgID, DealID, NoteID on Onpipeline) holds. `crm`: ids of this CRM "
            "account, so the record updates that record. `source`: ids from another system "
            "(a migration from another account or CRM): they are keys in the id map, and "
            "references (person_id, org_id, LinkedPersonID ...) are translated through it.",
        ),
        th.Property(
            "id_map_path",
            th.StringType,
            description="Where the target remembers which CRM id each source key was written "
            "to, so re-runs update instead of creating again and references between streams "
            "resolve: a SQLite file (one machine), or a postgresql:// URI shared by every worker "
            "(one table per account; add #<account> to name it; see docs/shared-stores.md). "
            "Without it the map lasts one run.",
        ),
        th.Property(
            "dry_run",
            th.BooleanType,
            default=False,
            description="Read, validate and match, but write nothing; the summary tells what "
            "would be created and updated.",
        ),
        th.Property(
            "rejected_records_path",
            th.StringType,
            description="Where every rejected record goes with the reason and the API's "
            "message: a JSON Lines file (appended to), or a postgresql:// URI (rows of table "
            "crm_rejected_records, with the run id). Without it rejects are only counted.",
        ),
        th.Property(
            "max_rejected_records",
            th.IntegerType,
            default=0,
            description="The run exits non-zero when more records than this were rejected.",
        ),
        shared.max_concurrent_requests("target"),
        shared.request_timeout("target"),
        shared.max_request_tries("target"),
        shared.MAX_REQUESTS_PER_2S,
        *shared.token_caps("target"),
        shared.ONPIPELINE_REQUESTS_PER_MINUTE,
    ).to_dict()

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        """The SDK's built-in settings, minus those a CRM target cannot honour.

        ``load_method`` (append-only/upsert/overwrite) is only implemented by SQL targets;
        here ``write_mode`` decides. ``add_record_metadata`` adds ``_sdc_*`` columns that a
        CRM has no field for.
        """
        super().append_builtin_config(config_jsonschema)
        for name in ("load_method", "add_record_metadata"):
            config_jsonschema["properties"].pop(name, None)

    # --- the run -----------------------------------------------------------------------

    @cached_property
    def run(self) -> Run:
        # An old setting name still works for now (one warning line names the new one).
        config = shared.with_renamed_settings(self.config, self.config_jsonschema)
        if problems := shared.renamed_setting_problems(self.config, self.config_jsonschema):
            raise TargetSetupError(problems[0])
        provider = PROVIDERS[config["provider"]]
        workers = max(1, int(config.get("max_concurrent_requests") or 16))
        timeout = float(config.get("request_timeout") or 60)
        try:
            match_keys = check_match_keys(config.get("match_keys") or {}, provider.STREAMS)
            writer_for = provider.writers(config, pool_size=workers)
        except (PipedriveError, OnpipelineConfigError) as exc:
            raise TargetSetupError(str(exc)) from None
        for line in unknown_settings(
            self.name, self.config, self.config_jsonschema, shared.RENAMED_SETTINGS
        ):
            self.logger.warning("%s", line)
        dry_run = bool(config.get("dry_run"))
        if not config.get("id_map_path"):
            self.logger.info("id_map_path is not set: source keys are remembered for this run only")
        return Run(
            provider=config["provider"],
            writer_for=writer_for,
            order=provider.ORDER,
            idmap=IdMap(
                config.get("id_map_path"), config["provider"], dry_run=dry_run, account=config
            ),
            report=Report(config.get("rejected_records_path"), dry_run=dry_run),
            waiting=WaitingRoom(),
            executor=ThreadPoolExecutor(workers, thread_name_prefix="target-crm"),
            write_mode=config.get("write_mode", "upsert"),
            dry_run=dry_run,
            record_ids=config.get("record_ids", "crm"),
            match_keys=match_keys,
            settle_seconds=settle_seconds(timeout),
            grace_seconds=min(timeout, 10.0),
        )

    def get_sink_class(self, stream_name: str) -> type[CRMSink]:
        """Every writable stream gets a CRMSink; anything else is refused before any write."""
        provider = PROVIDERS[self.config["provider"]]
        if stream_name not in provider.STREAMS:
            raise TargetSetupError(
                f"target-crm cannot write stream '{stream_name}' to {self.config['provider']}: "
                f"it has no write endpoint there. Writable streams: "
                f"{', '.join(provider.STREAMS)}. Rename a stream with stream_maps "
                f'({{"{stream_name}": {{"__alias__": "persons"}}}}) or drop it '
                f'({{"{stream_name}": null}}).'
            )
        _ = self.run  # settings problems surface now, before any record is written
        return CRMSink

    def process_endofpipe(self) -> None:
        """Drain in reference order, write the records that waited, then emit state."""
        run = self.run

        def order(sink: Sink) -> int:
            return run.order.get(sink.stream_name, 9)

        # Sinks archived by a SCHEMA change first (older records), each tier before the next.
        archived, active = self.sinks_to_drain()
        for sink in sorted(archived + active, key=lambda s: (order(s), s not in archived)):
            self.drain_one(sink)
        for sink in sorted(active, key=order):
            if isinstance(sink, CRMSink):
                sink.write_waiting()
        super().process_endofpipe()  # drains nothing more, cleans up, emits the latest STATE
        run.executor.shutdown()
        run.idmap.close()
        run.report.close()
        problem = getattr(self.message_reader, "problem", None)
        self._print_summary(check=problem is None)
        if problem is not None:
            raise problem

    def may_emit_state(self) -> bool:
        """Hold STATE while records wait for their references: they are not written yet."""
        if self._stopped_run() is not None:
            return False  # a stopped run's latest STATE covers records it did not write
        if self.run.waiting.count():
            self.logger.info("STATE held back: records are waiting for their references")
            return False
        return True

    # --- stopping early --------------------------------------------------------------------

    def _stopped_run(self) -> Run | None:
        """The run, when it was told to stop (a signal or a failure that ends the load)."""
        run: Run | None = self.__dict__.get("run")
        return run if run is not None and run.stopping.is_set() else None

    def on_stop_signal(self, signum: int) -> None:
        """SIGTERM/SIGINT (a cancelled or timed-out orchestrator run).

        The SDK's handler drains every sink and prints the latest STATE, although the batch
        being written when the signal came is not: that STATE tells Meltano to skip records
        that never reached the CRM. Here the main thread stops where it is instead; the
        writes in flight may finish (see ``CRMSink.write_records``) and no STATE follows. A
        second signal stops at once.
        """
        if getattr(self, "_interrupted", False):
            os._exit(128 + signum)
        self._interrupted = True
        run: Run | None = self.__dict__.get("run")
        if run is not None:
            run.stopping.set()
        raise InterruptedByError(signum, self)

    def stopped(self, signum: int) -> StoppedError:
        run: Run | None = self.__dict__.get("run")
        name = signal.Signals(signum).name
        written = "nothing was written"
        abandoned = False
        if run is not None:
            run.stopping.set()
            run.executor.shutdown(wait=False, cancel_futures=True)
            abandoned = run.abandoned
            counts = run.report.counts()
            total = {o: sum(row[o] for row in counts.values()) for o in ("created", "updated")}
            written = f"{total['created']} created and {total['updated']} updated"
            print(f"target-crm (stopped)\n{run.report.table()}", file=sys.stderr, flush=True)
        return StoppedError(
            f"target-crm stopped by {name} before the load was complete ({written}); no STATE "
            "was emitted for records not written: run again to load the rest",
            128 + signum,
            abandoned,
        )

    def _print_summary(self, *, check: bool = True) -> None:
        report = self.run.report
        title = "target-crm dry run: nothing was written" if report.dry_run else "target-crm"
        print(f"{title}\n{report.table()}", file=sys.stderr, flush=True)
        if not check:
            return
        limit = int(self.config.get("max_rejected_records") or 0)
        if report.rejected > limit:
            where = report.rejected_path or "set rejected_records_path to keep them"
            raise LoadFailedError(
                f"{report.rejected} records were rejected (max_rejected_records is {limit}); "
                f"see {where}"
            )

    @classmethod
    def cb_config(cls, ctx: Any, param: Any, value: tuple[str, ...]) -> Any:
        # A --config file that is not JSON: one line, not the SDK's traceback (crm_api.cli).
        if problem := config_file_problem(value):
            cls.logger.error("%s", problem)
            ctx.exit(1)
        return super().cb_config(ctx, param, value)

    @classmethod
    def invoke(cls, *args: Any, **kwargs: Any) -> None:
        """Problems a user must fix end in one line and exit status 1, never a traceback."""
        try:
            super().invoke(*args, **kwargs)
        except InterruptedByError as interrupted:
            stop = interrupted.target.stopped(interrupted.signum)
            cls.logger.error("%s", stop)
            if stop.abandoned:
                # A write still in flight would keep the interpreter waiting at exit; its
                # create is pending in the id map, so the next run looks for it.
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(stop.code)
            sys.exit(stop.code)
        except (TargetSetupError, UnrecoverableError, LoadFailedError) as exc:
            cls.logger.error("%s", exc)
            sys.exit(1)
        except ConfigValidationError:
            raise


if __name__ == "__main__":
    TargetCRM.cli()
