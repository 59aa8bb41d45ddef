"""The peer tap-crm's CPU per record is measured against: a minimal Singer SDK tap, defaults.

One ``RESTStream`` over Pipedrive's ``GET /api/v2/deals`` (the sandbox's, or any account's),
cursor paging by the SDK's ``JSONPathPaginator``, sorted by ``update_time`` and incremental on
it, with the schema file tap-crm's ``deals`` stream starts from (``schemas/pipedrive/deals.json``;
tap-crm adds its custom-field columns to it). Everything else is the SDK's default: its
``requests`` session and JSON decoding, type conformance, the deselection walk, the message
writer. It is what "a plain Singer SDK tap" costs per record: keep it minimal, do not tune it.

    .venv/bin/python benchmarks/sdk_default_tap.py --config FILE [--catalog FILE] [--state FILE]

The config is tap-crm's for Pipedrive (``api_url``, ``api_token``; ``page_size``, default 500,
and ``start_date`` are read too; other keys are ignored). Singer messages go to stdout.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from singer_sdk import RESTStream, SchemaDirectory, Stream, StreamSchema, Tap
from singer_sdk import typing as th
from singer_sdk.authenticators import APIKeyAuthenticator
from singer_sdk.pagination import JSONPathPaginator

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas" / "pipedrive"


class DealsStream(RESTStream[Any]):
    """Deals of every status (as tap-crm's stream asks), oldest change first."""

    name = "deals"
    path = "/api/v2/deals"
    primary_keys = ("id",)
    replication_key = "update_time"
    is_sorted = True
    records_jsonpath = "$.data[*]"
    schema = StreamSchema(SchemaDirectory(SCHEMA_DIR))  # deals.json

    @property
    def url_base(self) -> str:
        return str(self.config["api_url"]).rstrip("/")

    @property
    def authenticator(self) -> APIKeyAuthenticator:
        return APIKeyAuthenticator(key="x-api-token", value=self.config["api_token"])

    def get_new_paginator(self) -> JSONPathPaginator:
        return JSONPathPaginator("$.additional_data.next_cursor")

    def get_url_params(self, context: Any, next_page_token: Any) -> dict[str, Any]:
        params: dict[str, Any] = {
            "limit": int(self.config.get("page_size") or 500),
            "status": "open,won,lost,deleted",
            "sort_by": "update_time",
            "sort_direction": "asc",
        }
        start = self.get_starting_timestamp(context)
        if start is not None:
            params["updated_since"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
        if next_page_token:
            params["cursor"] = next_page_token
        return params


class SDKDefaultTap(Tap):
    name = "sdk-default-tap"

    config_jsonschema = th.PropertiesList(
        th.Property("api_url", th.StringType, required=True),
        th.Property("api_token", th.StringType, required=True, secret=True),
        th.Property("page_size", th.IntegerType),
        th.Property("start_date", th.DateTimeType),
    ).to_dict()
    # tap-crm's config carries more settings (provider, ...): accepted and ignored here.
    config_jsonschema["additionalProperties"] = True

    def discover_streams(self) -> list[Stream]:
        return [DealsStream(self)]


if __name__ == "__main__":
    sys.argv[0] = "sdk-default-tap"
    SDKDefaultTap.cli()
