"""TapCRM: the settings, and the chosen provider's streams.

Each provider package (``tap_crm.pipedrive``, ``tap_crm.onpipeline``) exposes, in its
``streams`` module, ``SETTINGS`` (its own config properties) and ``discover_streams(tap)``,
and optionally ``config_problems(config) -> list[str]`` (one clear line per setting that
cannot work, checked before any request). This module only knows the shared settings and
which provider to ask.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError

from crm_api.governor import BudgetExhaustedError
from crm_api.pipedrive import PipedriveError
from tap_crm.onpipeline import streams as onpipeline
from tap_crm.pipedrive import streams as pipedrive

if TYPE_CHECKING:
    from singer_sdk import Stream

PROVIDERS = {"pipedrive": pipedrive, "onpipeline": onpipeline}

COMMON_SETTINGS = [
    th.Property(
        "provider",
        th.StringType,
        required=True,
        allowed_values=sorted(PROVIDERS),
        description="Which CRM to read: `pipedrive` or `onpipeline`.",
    ),
    th.Property(
        "api_token",
        th.StringType,
        secret=True,
        description="The API token (Pipedrive: Settings > Personal preferences > API; "
        "Onpipeline: the account's API token).",
    ),
    th.Property(
        "api_url",
        th.StringType,
        description="Base URL of the API. Default: the provider's public API. Set it to a "
        "Pipedrive company domain, or to a crm-sandbox URL to try things safely.",
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        description="Earliest record time to sync on the first run (RFC 3339). "
        "Default: everything.",
    ),
]


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
    url = config.get("api_url")
    if url and not str(url).startswith(("http://", "https://")):
        problems.append(f"api_url {url!r} must start with https:// (or http:// for a sandbox)")
    return problems


class TapCRM(Tap):
    """Singer tap for Pipedrive and Onpipeline."""

    name = "tap-crm"
    dynamic_catalog = True  # custom fields become columns, read from the account at discovery

    config_jsonschema = th.PropertiesList(
        *COMMON_SETTINGS,
        *pipedrive.SETTINGS,
        *onpipeline.SETTINGS,
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
        try:
            return list(provider.discover_streams(self))
        except PipedriveError as exc:  # e.g. a refused token while reading custom fields
            raise ConfigValidationError(str(exc), errors=[str(exc)]) from None

    def run_discovery(self) -> str:
        # `--discover` builds the tap inside the SDK's ConfigValidationError guard but
        # discovers after it, so a refused token there would surface as a traceback.
        try:
            return super().run_discovery()
        except ConfigValidationError as exc:
            for error in exc.errors or [str(exc)]:
                self.logger.error("%s", error)
            sys.exit(1)

    @classmethod
    def invoke(cls, *args: Any, **kwargs: Any) -> None:
        # A problem the user must fix (bad token, refused setting) ends in one clear line,
        # not a traceback: the message already names the stream and the setting.
        try:
            super().invoke(*args, **kwargs)
        except (FatalAPIError, PipedriveError, BudgetExhaustedError) as exc:
            cls.logger.error("%s", exc)
            sys.exit(1)


if __name__ == "__main__":
    TapCRM.cli()
