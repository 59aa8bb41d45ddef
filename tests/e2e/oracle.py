"""The migration oracle: the unified CRM model (transform/) of the source account and of the
destination account mean the same, except for ids and the fields one side cannot hold.

Both accounts are read into one DuckDB by `meltano run crm-model-duckdb` and built by dbt; the
destination account may hold records of its own (the sandbox seeds both providers), so only
the records the migration wrote (the target's id map) are compared. Every key a row carries
(its own, its links) is replaced by the source record's id, users by their email (translated
by the migration's owner table), pipelines and stages by their names (translated likewise).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

SCHEMA = "unified"

# model -> (its own key column, the id-map stream of its records)
MODELS = {
    "crm_organizations": ("organization_key", "organizations"),
    "crm_persons": ("person_key", "persons"),
    "crm_deals": ("deal_key", "deals"),
    "crm_notes": ("note_key", "notes"),
    "crm_activities": ("activity_key", "activities"),
}
# link column -> the model it points at
LINKS = {
    "organization_key": "crm_organizations",
    "person_key": "crm_persons",
    "deal_key": "crm_deals",
}
USER_LINKS = ("owner_user_key", "author_user_key")
# ids and keys: different in every account by nature
IDENTITY = {
    "provider",
    "account",
    "organization_id",
    "person_id",
    "deal_id",
    "note_id",
    "activity_id",
    "owner_user_id",
    "author_user_id",
    "pipeline_key",
    "stage_key",
}


@dataclass
class Account:
    """One provider's rows of the unified models, keyed by a provider-neutral identity."""

    rows: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)


def read_models(path: Path) -> dict[str, list[dict[str, Any]]]:
    names = [*MODELS, "crm_users", "crm_person_emails", "crm_person_phones"]
    out: dict[str, list[dict[str, Any]]] = {}
    with duckdb.connect(str(path), read_only=True) as conn:
        for name in names:
            cursor = conn.execute(f'select * from "{SCHEMA}"."{name}"')
            columns = [c[0] for c in cursor.description]
            out[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value.strip()
    return value


def comparable(
    models: Mapping[str, list[dict[str, Any]]],
    provider: str,
    identity: Mapping[str, Mapping[str, str]] | None,
    *,
    user_email: Mapping[str, str] | None = None,
    names: Mapping[str, Mapping[str, str]] | None = None,
    not_held: Mapping[str, Iterable[str]],
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per model: neutral id -> the row without its ids, links as neutral ids.

    ``identity``: per id-map stream, this provider's id -> the neutral id (the source id);
    records without one are not part of the migration and left out. None (the source side):
    every record, its own id the neutral one. ``user_email``: how this
    side's user emails read on the other (the migration's owner table). ``names``: per
    column (pipeline_name, stage_name), how this side's names read on the other.
    ``not_held``: per model, columns one side cannot hold (left out).
    """
    user_email = user_email or {}
    names = names or {}
    users = {
        u["user_key"]: user_email.get(u["email"], u["email"])
        for u in models["crm_users"]
        if u["provider"] == provider
    }
    key_to_neutral: dict[str, dict[str, str]] = {}
    for model, (key_column, stream) in MODELS.items():
        id_column = key_column.replace("_key", "_id")
        if identity is None:
            key_to_neutral[model] = {
                row[key_column]: str(row[id_column])
                for row in models[model]
                if row["provider"] == provider
            }
            continue
        ids = identity.get(stream, {})
        key_to_neutral[model] = {
            row[key_column]: ids[str(row[key_column.replace("_key", "_id")])]
            for row in models[model]
            if row["provider"] == provider and str(row[key_column.replace("_key", "_id")]) in ids
        }
    contacts: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
    for model, column in (("crm_person_emails", "email"), ("crm_person_phones", "phone")):
        for row in models[model]:
            neutral = key_to_neutral["crm_persons"].get(row["person_key"])
            if row["provider"] == provider and neutral is not None:
                contacts.setdefault(neutral, {}).setdefault(model, []).append(
                    (row["position"], row[column], row["label"], row["is_primary"])
                )
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for model, (key_column, _) in MODELS.items():
        skip = {key_column, *IDENTITY, *not_held.get(model, ())}
        rows: dict[str, dict[str, Any]] = {}
        for row in models[model]:
            neutral = key_to_neutral[model].get(row[key_column])
            if row["provider"] != provider or neutral is None:
                continue
            if row.get("is_deleted") or row.get("status") == "deleted":
                continue  # the migrations skip deleted records (docs/crm-model.md)
            shown: dict[str, Any] = {}
            for column, value in row.items():
                if column in skip:
                    continue
                if column in LINKS:
                    shown[column] = (
                        None if value is None else key_to_neutral[LINKS[column]].get(value, value)
                    )
                elif column in USER_LINKS:
                    shown[column] = None if value is None else users.get(value, value)
                elif column == "stage_name" and column in names and value is not None:
                    # a rename may name the pipeline too: "<pipeline>/<stage>"
                    pipeline = f"{row.get('pipeline_name')}/{value}"
                    shown[column] = names[column].get(pipeline, names[column].get(value, value))
                elif column in names and value is not None:
                    shown[column] = names[column].get(value, value)
                else:
                    shown[column] = _plain(value)
            if model == "crm_persons":
                for contact_model in ("crm_person_emails", "crm_person_phones"):
                    if contact_model not in not_held.get(model, ()):
                        shown[contact_model] = sorted(
                            contacts.get(neutral, {}).get(contact_model, [])
                        )
            rows[neutral] = shown
        out[model] = rows
    return out


def differences(
    source: Mapping[str, Mapping[str, Mapping[str, Any]]],
    destination: Mapping[str, Mapping[str, Mapping[str, Any]]],
) -> list[str]:
    """Every way the two accounts differ, one line each (empty: they mean the same)."""
    found: list[str] = []
    for model in MODELS:
        src, dst = source.get(model, {}), destination.get(model, {})
        found += [f"{model} {n}: not in the destination" for n in sorted(set(src) - set(dst))]
        found += [f"{model} {n}: only in the destination" for n in sorted(set(dst) - set(src))]
        for neutral in sorted(set(src) & set(dst)):
            for column in sorted(set(src[neutral]) | set(dst[neutral])):
                a, b = src[neutral].get(column), dst[neutral].get(column)
                if isinstance(a, float) and isinstance(b, float) and abs(a - b) < 0.005:
                    continue
                if a != b:
                    found.append(f"{model} {neutral}.{column}: source {a!r}, destination {b!r}")
    return found
