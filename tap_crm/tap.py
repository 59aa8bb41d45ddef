"""TapCRM: the settings, and the chosen provider's streams.

Each provider package (``tap_crm.pipedrive``, ``tap_crm.onpipeline``) exposes, in its
``streams`` module, ``SETTINGS`` (its own config properties) and ``discover_streams(tap)``.
This module only knows the shared settings and which provider to ask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from singer_sdk import Tap
from singer_sdk import typing as th

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
        provider = PROVIDERS[self.config["provider"]]
        return list(provider.discover_streams(self))


if __name__ == "__main__":
    TapCRM.cli()
