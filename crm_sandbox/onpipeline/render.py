"""Internal records -> the API's objects, with the account's local time.

Onpipeline shows datetimes as ``YYYY-MM-DD HH:MM:SS`` in the account's time zone, without an
offset; empty ones as ``0000-00-00 00:00:00`` and empty dates as ``0000-00-00``. Numbers are
strings. Field names and order follow the objects in the API reference.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from crm_sandbox.onpipeline.store import Store

EMPTY_DATETIME = "0000-00-00 00:00:00"
EMPTY_DATE = "0000-00-00"
_DATETIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?: (\d{2}):(\d{2}):(\d{2}))?$")
_EPOCH = date(1970, 1, 1)


class LocalTime:
    """UTC seconds <-> the account's wall clock, fast enough for 100,000 records a request.

    Offsets are cached per quarter hour (every zone changes offset on a quarter hour) and
    dates per day, so formatting is arithmetic rather than a ``datetime`` per value.
    """

    def __init__(self, zone: str) -> None:
        self.name = zone
        self.zone = ZoneInfo(zone)
        self._offsets: dict[int, int] = {}
        self._dates: dict[int, str] = {}

    def offset(self, ts: int) -> int:
        bucket = ts // 900
        off = self._offsets.get(bucket)
        if off is None:
            delta = datetime.fromtimestamp(bucket * 900, self.zone).utcoffset() or timedelta()
            off = self._offsets[bucket] = int(delta.total_seconds())
        return off

    def wall(self, ts: int) -> int:
        """Local wall-clock time as seconds since 1970-01-01 00:00 (comparable to parse())."""
        return ts + self.offset(ts)

    def format(self, ts: int | None) -> str:
        if ts is None:
            return EMPTY_DATETIME
        days, secs = divmod(ts + self.offset(ts), 86400)
        day = self._dates.get(days)
        if day is None:
            day = self._dates[days] = (_EPOCH + timedelta(days=days)).isoformat()
        return f"{day} {secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"


def parse_wall(text: Any, end_of_day: bool = False) -> int | None:
    """``YYYY-MM-DD[ HH:MM:SS]`` -> wall seconds; a bare date means its first (or last) second.

    None when the text is not such a value.
    """
    match = _DATETIME.match(str(text).strip())
    if not match:
        return None
    y, mo, d, h, mi, s = (int(g) if g is not None else None for g in match.groups())
    try:
        day = date(y or 0, mo or 0, d or 0)
    except ValueError:
        return None
    seconds = (day - _EPOCH).days * 86400
    if h is None:
        return seconds + (86399 if end_of_day else 0)
    if h > 23 or (mi or 0) > 59 or (s or 0) > 59:
        return None
    return seconds + h * 3600 + (mi or 0) * 60 + (s or 0)


class Renderer:
    """Turns internal records of one store into API objects."""

    def __init__(self, store: Store, local: LocalTime) -> None:
        self.store = store
        self.local = local

    def _extra(self, table: str, values: dict[str, str]) -> list[dict[str, str]]:
        return [
            {"ID": f["ID"], "Value": values.get(f["ID"], "")}
            for f in self.store.custom_fields[table]
        ]

    def _user_name(self, user_id: str) -> str:
        user = self.store.users.get(user_id)
        return str(user["Name"]) if user else ""

    def _person_link(self, index: int) -> tuple[str, str]:
        name = self.store.person_name(index)
        if name is None:
            return "", ""
        return self.store.id_of("persons", index), f"{name[0]} {name[1]}"

    def _org_link(self, index: int) -> tuple[str, str]:
        name = self.store.org_name(index)
        if name is None:
            return "", ""
        return self.store.id_of("organizations", index), name

    def person(self, index: int, r: dict[str, Any]) -> dict[str, Any]:
        org_id, org_name = self._org_link(r["org"])
        open_, won, lost = self.store.deals_of("persons", index)
        return {
            "PersonID": self.store.id_of("persons", index),
            "FirstName": r["FirstName"],
            "LastName": r["LastName"],
            "OrgID": org_id,
            "OrgName": org_name,
            "Fullname": f"{r['FirstName']} {r['LastName']}".strip(),
            "NextEvent": self.local.format(r["NextEvent"]),
            "DealsOpen": str(open_),
            "DealsWon": str(won),
            "DealsLost": str(lost),
            "EmailsSent": r["EmailsSent"],
            "EmailsReceived": r["EmailsReceived"],
            "Source": r["Source"],
            "SourceName": r["SourceName"],
            "Created": self.local.format(r["created"]),
            "Email": r["Email"],
            "Phone": r["Phone"],
            "Extra": self._extra("Persons", r["extra"]),
        }

    def organization(self, index: int, r: dict[str, Any]) -> dict[str, Any]:
        open_, won, lost = self.store.deals_of("organizations", index)
        return {
            "OrgID": self.store.id_of("organizations", index),
            "OrgName": r["OrgName"],
            "Address1": r["Address1"],
            "Address2": r["Address2"],
            "Postcode": r["Postcode"],
            "City": r["City"],
            "Region": r["Region"],
            "Country": r["Country"],
            "FullAddress": r["FullAddress"],
            "DealsOpen": str(open_),
            "DealsWon": str(won),
            "DealsLost": str(lost),
            "Source": r["Source"],
            "SourceName": r["SourceName"],
            "Created": self.local.format(r["created"]),
            "Extra": self._extra("Organizations", r["extra"]),
        }

    def deal(self, index: int, r: dict[str, Any]) -> dict[str, Any]:
        person_id, person_name = self._person_link(r["person"])
        org_id, org_name = self._org_link(r["org"])
        pipeline = self.store.pipelines[r["pipeline"]]
        involved = [
            self.store.id_of("persons", p)
            for p in r["Involved"]
            if p not in self.store.deleted["persons"]
        ]
        return {
            "DealID": self.store.id_of("deals", index),
            "DealName": r["DealName"],
            "Status": r["Status"],
            "Value": r["Value"],
            "Probability": r["Probability"],
            "Pipeline": pipeline["PipelineName"],
            "Stage": self.store.stages[r["stage"]][1],
            "OwnerID": r["OwnerID"],
            "Owner": self._user_name(r["OwnerID"]),
            "LinkedPersonID": person_id,
            "LinkedPerson": person_name,
            "LinkedOrgID": org_id,
            "LinkedOrg": org_name,
            "Involved": involved,
            "Created": self.local.format(r["created"]),
            "CreatedbyID": r["CreatedbyID"],
            "CreatedBy": self._user_name(r["CreatedbyID"]),
            "ExpClosing": r["ExpClosing"] or EMPTY_DATE,
            "Closed": r["Closed"] or EMPTY_DATE,
            "NextEvent": self.local.format(r["NextEvent"]),
            "LastUpdate": self.local.format(r["modified"]),
            "Products": r["Products"],
            "LostReason": r["LostReason"],
            "Description": r["Description"],
            "EmailsSent": r["EmailsSent"],
            "EmailsReceived": r["EmailsReceived"],
            "Extra": self._extra("Deals", r["extra"]),
        }

    def event(self, index: int, r: dict[str, Any]) -> dict[str, Any]:
        deal = r["deal"]
        deal_id = self.store.id_of("deals", deal) if deal >= 0 else ""
        return {
            "EventID": self.store.id_of("events", index),
            "OwnerID": r["OwnerID"],
            "OwnerName": self._user_name(r["OwnerID"]),
            "Name": r["Name"],
            "Start": self.local.format(r["Start"]),
            "End": self.local.format(r["End"]),
            "TimeZone": self.local.name,
            "Location": r["Location"],
            "Type": r["Type"],
            "LinkedDeal": deal_id,
            "LinkedPerson": self._person_link(r["person"])[0],
            "LinkedOrg": self._org_link(r["org"])[0],
            "Guests": r["Guests"],
            "Created": self.local.format(r["created"]),
            "CreatedBy": self._user_name(r["CreatedByID"]),
            "CreatedByID": r["CreatedByID"],
            "LastUpdate": self.local.format(r["modified"]),
            "EventCompleted": r["EventCompleted"],
            "NotifyExternal": r["NotifyExternal"],
        }

    def note(self, index: int, r: dict[str, Any]) -> dict[str, Any]:
        kind = {"deal": "deals", "person": "persons", "org": "organizations"}[r["Type"]]
        linked = self.store.id_of(kind, r["linked"]) if r["linked"] >= 0 else ""
        return {
            "Type": r["Type"],
            "LinkedID": linked,
            "NoteID": self.store.id_of("notes", index),
            "Text": r["Text"],
            "Deleted": r["Deleted"],
            "Created": self.local.format(r["created"]),
            "UserID": r["UserID"],
        }

    def invoice(self, index: int, r: dict[str, Any]) -> dict[str, Any]:
        org = r["org"]
        return {
            "ID": self.store.id_of("invoices", index),
            "Number": r["Number"],
            "Date": r["Date"],
            "ClientID": self.store.id_of("organizations", org) if org >= 0 else "",
            "VAT_id": r["VAT_id"],
            "TAX_id": r["TAX_id"],
            "Name": r["Name"],
            "Address1": r["Address1"],
            "Address2": r["Address2"],
            "City": r["City"],
            "Postcode": r["Postcode"],
            "Region": r["Region"],
            "Country": r["Country"],
            "Currency": r["Currency"],
            "NetTotal": r["NetTotal"],
            "Tax": r["Tax"],
            "Withholding": r["Withholding"],
            "Total": r["Total"],
            "DueDate": r["DueDate"] or EMPTY_DATE,
            "Paid": r["Paid"],
            "Reference": r["Reference"],
        }

    def any(self, kind: str, index: int, record: dict[str, Any]) -> dict[str, Any]:
        method: Any = getattr(self, _METHODS[kind])
        return method(index, record)


_METHODS = {
    "persons": "person",
    "organizations": "organization",
    "deals": "deal",
    "events": "event",
    "notes": "note",
    "invoices": "invoice",
}
