"""What Onpipeline's writers take beyond the API's own fields, for loads from another account.

A migration from Pipedrive (docs/crm-model.md) names what has other ids here: a deal's owner
by email (``owner_email`` -> ``OwnerID``, from ``UsersList``), its pipeline and stage by name
(``Pipeline``/``Stage``, already taken by :class:`target_crm.onpipeline.Entity`). Stream maps
cannot emit lists, so ``Email``/``Phone`` may come as JSON text. ``DealAdd`` takes no
``Status``: a won or lost deal is added, then given its status with ``DealChange``. Notes
cannot be changed once added: a note already written with the same text is unchanged.

:class:`MigrationEntity` wraps (composition) the writer ``target_crm.onpipeline`` makes for a
stream and hands everything else to it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from target_crm.entities import Created, EntityWriter, RefusedError, Resolve
from target_crm.values import same

CONTACT_FIELDS = {"Email": ("Address", "Type"), "Phone": ("Number", "Type")}
CLOSED = ("won", "lost")


class Users:
    """The account's active users by email, read once per load."""

    def __init__(self, account: Any) -> None:
        self.account = account
        self._lock = threading.Lock()
        self._by_email: dict[str, list[str]] | None = None

    def user_id(self, email: Any) -> str:
        with self._lock:
            if self._by_email is None:
                self._by_email = {}
                for user in self.account.call_list("UsersList", {}):
                    if str(user.get("Status", "1")) == "1" and user.get("Email"):
                        key = str(user["Email"]).strip().casefold()
                        self._by_email.setdefault(key, []).append(str(user["ID"]))
            found = self._by_email.get(str(email).strip().casefold(), [])
        if len(found) != 1:
            raise RefusedError(
                f"no active Onpipeline user has the email '{email}'"
                if not found
                else f"several Onpipeline users have the email '{email}'"
            )
        return found[0]


def contacts(name: str, value: Any) -> Any:
    """``Email``/``Phone`` given as JSON text: the list of objects the API takes."""
    if not (isinstance(value, str) and value.lstrip().startswith("[")):
        return value
    try:
        items = json.loads(value)
    except ValueError:
        raise RefusedError(
            f"{name}: '{value[:80]}' is neither an address nor a JSON list"
        ) from None
    first, kind = CONTACT_FIELDS[name]
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping):
            text = item.get(first, item.get("value"))
            if text not in (None, ""):
                out.append({first: str(text), kind: str(item.get(kind, item.get("label")) or "")})
        elif item not in (None, ""):
            out.append({first: str(item), kind: "work"})
    return out


class MigrationEntity(EntityWriter):
    """An Onpipeline writer that also takes ``owner_email``, contacts as JSON text, a closed
    deal's status at creation, and leaves an already written note alone."""

    def __init__(self, account: Any, inner: EntityWriter, users: Users) -> None:
        self.account = account
        self.inner = inner
        self.users = users
        self.stream = inner.stream
        self.id_field = inner.id_field
        self.required = inner.required
        # a note can be compared with what was written, so a re-run can tell it is unchanged
        self.updatable = inner.updatable or inner.stream == "notes"

    def body(self, record: Mapping[str, Any]) -> dict[str, Any]:
        record = dict(record)
        owner = record.pop("owner_email", None)
        for name in CONTACT_FIELDS:
            if name in record and self.stream == "persons":
                record[name] = contacts(name, record[name])
        body = self.inner.body(record)
        if owner not in (None, "") and not body.get("OwnerID"):
            body["OwnerID"] = self.users.user_id(owner)
        return body

    def resolve_references(self, body: dict[str, Any], resolve: Resolve) -> None:
        self.inner.resolve_references(body, resolve)

    def key_getter(self, field: str) -> Callable[[Mapping[str, Any]], list[Any]]:
        return self.inner.key_getter(field)

    def fetch(self, crm_id: str) -> dict[str, Any] | None:
        return self.inner.fetch(crm_id)

    def list_all(self) -> Iterator[dict[str, Any]]:
        return self.inner.list_all()

    def find_applied(self, body: dict[str, Any]) -> str | None:
        return self.inner.find_applied(body)

    def crm_id_of(self, record: Mapping[str, Any]) -> str | None:
        return self.inner.crm_id_of(record)

    def create(self, body: dict[str, Any]) -> Created:
        created = self.inner.create(body)
        status = body.get("Status")
        if self.stream == "deals" and status in CLOSED and created.outcome == "created":
            # DealAdd has no Status: the new deal is open until DealChange closes it
            self.inner.update(created.crm_id, {"Status": status})
        return created

    def update(self, crm_id: str, body: dict[str, Any]) -> str | None:
        if self.stream != "notes":
            return self.inner.update(crm_id, body)
        filters = {k: body[k] for k in ("Type", "LinkedID") if body.get(k)}
        for note in self.account.call_list("NotesList", filters):
            if str(note.get("NoteID")) == str(crm_id) and str(note.get("Deleted", "0")) != "1":
                if same({"Text": body.get("Text")}, note):
                    return "unchanged"
                raise RefusedError(
                    "Onpipeline notes cannot be changed once added (NoteAdd only); "
                    f"note {crm_id} holds other text"
                )
        return None

    def would_update(self, crm_id: str, body: dict[str, Any]) -> str | None:
        if self.stream == "notes":
            return self.update(crm_id, body)
        return self.inner.would_update(crm_id, body)


def migration_writer(account: Any, inner: EntityWriter) -> EntityWriter:
    """The writer for ``inner``'s stream, with what loads from another account need."""
    if inner.stream in ("persons", "deals", "notes"):
        return MigrationEntity(account, inner, Users(account))
    return inner
