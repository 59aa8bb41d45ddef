"""Choosing a shared store by URI, and what a store's messages may show (no database here:
tests/integration/test_shared_stores.py runs the stores against a real PostgreSQL)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from crm_api import postgres
from crm_api.token_store import (
    FileTokenStore,
    PostgresTokenStore,
    TokenStoreError,
    open_token_store,
)
from target_crm.idmap import IdMap, IdMapStoreError, account_identity
from target_crm.report import RejectionStoreError, Report

PASSWORD = "pw-SECRET-5c2e"
# a port nothing listens on: connecting fails at once
NOWHERE = f"postgresql://crm:{PASSWORD}@127.0.0.1:9/crm"


def test_a_path_is_a_file_store_and_a_postgresql_uri_a_database_store(tmp_path: Path) -> None:
    assert isinstance(open_token_store(tmp_path / "token.json"), FileTokenStore)
    for uri in ("postgresql://db/crm", "postgres://db/crm#acme", "PostgreSQL://db/crm"):
        store = open_token_store(uri, client_id="cid")
        assert isinstance(store, PostgresTokenStore)  # nothing connects before first use


def test_the_row_key_is_a_hash_of_the_client_id_and_the_account_name() -> None:
    one = PostgresTokenStore("postgresql://db/crm", "client-1")
    assert "client-1" not in one.app_key
    assert len(one.app_key) == 64
    assert one.app_key != PostgresTokenStore("postgresql://db/crm", "client-2").app_key
    assert one.app_key != PostgresTokenStore("postgresql://db/crm#acme", "client-1").app_key
    assert one.app_key == PostgresTokenStore("postgresql://other/crm", "client-1").app_key


def test_a_shown_store_never_holds_the_password() -> None:
    uri = f"postgresql://crm:{PASSWORD}@db.example:5432/crm?sslmode=require&password={PASSWORD}"
    assert postgres.shown_store(uri) == "postgresql://crm:***@db.example:5432/crm"
    assert postgres.shown_store("postgresql://db/crm#acme") == "postgresql://db/crm#acme"
    assert PASSWORD not in repr(PostgresTokenStore(uri))
    assert (
        postgres.without_secrets(f"auth failed for {PASSWORD}\n x", uri) == "auth failed for *** x"
    )


def test_without_psycopg_a_database_uri_is_one_line_saying_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now fails
    with pytest.raises(TokenStoreError) as raised:
        open_token_store(NOWHERE, client_id="cid").load()
    message = str(raised.value)
    assert "oauth_token_file" in message
    assert "crm-singer[postgres]" in message
    assert PASSWORD not in message
    assert "\n" not in message
    with pytest.raises(IdMapStoreError, match=r"id_map_path .*pip install"):
        IdMap(NOWHERE + "#acme", "pipedrive")
    with pytest.raises(RejectionStoreError, match=r"rejected_records_path .*pip install"):
        Report(NOWHERE)


def test_an_unreachable_database_is_one_line_without_the_password() -> None:
    for attempt in (
        lambda: open_token_store(NOWHERE, client_id="cid").load(),
        lambda: IdMap(NOWHERE + "#acme", "pipedrive"),
        lambda: Report(NOWHERE),
    ):
        with pytest.raises((TokenStoreError, IdMapStoreError, RejectionStoreError)) as raised:
            attempt()
        message = str(raised.value)
        assert "cannot connect" in message
        assert "127.0.0.1:9" in message
        assert PASSWORD not in message
        assert "\n" not in message


def test_a_shared_id_map_needs_to_know_its_account() -> None:
    with pytest.raises(IdMapStoreError, match=r"add #<account> to the URI"):
        IdMap("postgresql://127.0.0.1:9/crm", "pipedrive")


def test_the_account_of_a_shared_id_map_is_the_api_url_and_credential_or_its_name() -> None:
    token = {"api_url": "https://acme.pipedrive.com/", "api_token": "tok-1"}
    plain = account_identity("pipedrive", "postgresql://db/crm", token)
    assert plain == ("pipedrive", "https://acme.pipedrive.com", "token", "tok-1")
    named = account_identity("pipedrive", "postgresql://db/crm#acme", token)
    # a name survives a new API token
    assert named == account_identity(
        "pipedrive", "postgresql://db/crm#acme", {**token, "api_token": "tok-2"}
    )
    oauth = {"client_id": "cid", "oauth_token_file": f"postgresql://u:{PASSWORD}@db/crm#acme"}
    assert PASSWORD not in "".join(account_identity("pipedrive", "postgresql://db/crm", oauth))
    table = postgres.table_name("crm_ids_pipedrive", *plain)
    assert table.startswith("crm_ids_pipedrive_")
    assert "tok-1" not in table


def test_the_summary_ends_with_the_run_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MELTANO_RUN_ID", "0b7c1d2e-0000-4000-8000-000000000001")
    assert Report(None).table().splitlines()[-1] == "run 0b7c1d2e-0000-4000-8000-000000000001"
    monkeypatch.delenv("MELTANO_RUN_ID")
    first, second = Report(None).run_id, Report(None).run_id
    assert first != second  # a new UUID per run without Meltano's
