"""Reverse ETL through Meltano: a CSV file and a PostgreSQL table into the Pipedrive sandbox."""

from __future__ import annotations

import csv
from typing import Any

import psycopg
import pytest

from crm_sandbox.testing import SandboxHandle
from tests.e2e.crm import custom_field_key, persons_by_email, pipedrive_list, primary_email
from tests.e2e.meltano_project import ROOT, MeltanoProject

pytestmark = pytest.mark.e2e

CONTACTS = ROOT / "data" / "contacts.csv"


def summary_row(output: str, stream: str) -> list[int]:
    """created, updated, unchanged, rejected of one stream in target-crm's summary table."""
    for line in output.splitlines():
        words = line.split()
        if len(words) >= 5 and words[-5] == stream:
            return [int(w) for w in words[-4:]]
    raise AssertionError(f"no {stream} row in target-crm's summary:\n{output[-3000:]}")


def test_csv_contacts_become_pipedrive_persons_once(
    meltano: MeltanoProject, sandbox: SandboxHandle
) -> None:
    with CONTACTS.open(encoding="utf-8") as handle:
        contacts = list(csv.DictReader(handle))
    before = len(pipedrive_list(sandbox, "persons"))

    first = meltano.run("run", "csv-to-crm")
    assert summary_row(first.stderr, "persons") == [len(contacts), 0, 0, 0]

    score = custom_field_key(sandbox, "person", "Score")
    people = persons_by_email(sandbox)
    for contact in contacts:
        [person] = people[contact["email"]]
        assert person["name"] == f"{contact['first_name']} {contact['last_name']}"
        if contact["phone"]:
            assert person["phones"][0]["value"] == contact["phone"]
        assert person["custom_fields"][score] == float(contact["score"])

    # The same file again (a full refresh re-reads it): matched by email, nothing new.
    again = meltano.run("run", "--full-refresh", "csv-to-crm")
    assert summary_row(again.stderr, "persons") == [0, 0, len(contacts), 0]
    assert len(pipedrive_list(sandbox, "persons")) == before + len(contacts)


def test_warehouse_table_updates_and_creates_pipedrive_persons(
    meltano: MeltanoProject, sandbox: SandboxHandle, pg_database: str
) -> None:
    people = persons_by_email(sandbox)
    existing = next(found[0] for found in people.values() if len(found) == 1)
    rows: list[tuple[Any, ...]] = [
        (primary_email(existing), existing["name"], 99.5),  # scored in the warehouse
        ("new.lead@example.com", "New Lead", 12.0),
        ("another.lead@example.com", "Another Lead", 7.25),
    ]
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("create schema crm_export")
        conn.execute(
            "create table crm_export.persons (email text primary key, name text, score numeric)"
        )
        with conn.cursor() as cursor:
            cursor.executemany("insert into crm_export.persons values (%s, %s, %s)", rows)
    before = len(pipedrive_list(sandbox, "persons"))

    result = meltano.run("run", "postgres-to-crm")
    assert summary_row(result.stderr, "persons") == [2, 1, 0, 0]

    score = custom_field_key(sandbox, "person", "Score")
    people = persons_by_email(sandbox)
    for email, name, value in rows:
        [person] = people[email]
        assert person["name"] == name
        assert person["custom_fields"][score] == value
    assert people[rows[0][0]][0]["id"] == existing["id"]
    assert len(pipedrive_list(sandbox, "persons")) == before + 2
