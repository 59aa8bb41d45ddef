"""Events and notes: ``EventList``, ``NotesList``, ``NoteAdd``."""

from __future__ import annotations

from typing import Any

from crm_sandbox.core import Response
from crm_sandbox.onpipeline.checks import (
    not_acceptable,
    require,
    text,
)
from crm_sandbox.onpipeline.envelopes import created, listed_fragments
from crm_sandbox.onpipeline.records import link
from crm_sandbox.onpipeline.select import select
from crm_sandbox.onpipeline.state import ApiState

EVENT_FILTERS = {
    k: k
    for k in (
        "EventID", "OwnerID", "OwnerName", "Name", "Start", "End", "TimeZone", "Location", "Type",
        "LinkedDeal", "LinkedPerson", "LinkedOrg", "Guests", "Created", "CreatedBy",
        "CreatedByID", "LastUpdate", "EventCompleted", "NotifyExternal",
    )
}  # fmt: skip
NOTE_FILTERS = {"Type": "Type", "LinkedID": "LinkedID"}


class Activity:
    def __init__(self, state: ApiState) -> None:
        self.state = state

    def events(self, body: dict[str, Any]) -> Response:
        return listed_fragments(self.state, select(self.state, "events", body, EVENT_FILTERS))

    def notes(self, body: dict[str, Any]) -> Response:
        return listed_fragments(self.state, select(self.state, "notes", body, NOTE_FILTERS))

    def note_add(self, body: dict[str, Any]) -> Response:
        require(body, "Type", "LinkedID", "Text")
        kind = str(text(body["Type"])).lower()
        target = {"person": "persons", "org": "organizations", "deal": "deals"}.get(kind)
        if target is None:
            raise not_acceptable("Type must be person, org or deal")
        linked = link(self.state, target, body["LinkedID"], "LinkedID")
        now = self.state.now_ts()
        record = {
            "Type": kind,
            "linked": linked,
            "Text": str(body["Text"]),
            "Deleted": "0",
            "created": now,
            "modified": now,
            "UserID": next(iter(self.state.store.users)),
        }
        index = self.state.store.add("notes", record)
        return created(self.state, NoteID=self.state.store.id_of("notes", index))
