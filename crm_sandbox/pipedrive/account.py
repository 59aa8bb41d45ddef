"""One simulated Pipedrive account: its records, plan features and clock, shared by the endpoints.

Every endpoint object holds the same ``Account`` and reads ``account.store`` when it answers, so
``reset()`` (which builds fresh records) reaches all of them at once.
"""

from __future__ import annotations

from typing import Any

from crm_sandbox.core import Request, SandboxContext
from crm_sandbox.pipedrive import catalog, data, leads
from crm_sandbox.pipedrive.store import Record, Store, Table
from crm_sandbox.pipedrive.validate import failure, invalid
from crm_sandbox.pipedrive.writes import CONTACT_SYNC

SINGULAR = {
    "deals": "Deal",
    "persons": "Person",
    "organizations": "Organization",
    "activities": "Activity",
    "products": "Product",
    "pipelines": "Pipeline",
    "stages": "Stage",
    "notes": "Note",
    "users": "User",
    "files": "File",
    "leads": "Lead",
}
# plan features a test can switch off; contact_sync: the persons' contact-sync fields
DEFAULT_FEATURES = {"installments": True, "contact_sync": True}


class Account:
    """The seeded records (``store``, ``world``), the plan's features, and lookups on them."""

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.store: Store
        self.world: data.World
        self.features: dict[str, bool] = dict(DEFAULT_FEATURES)
        self.reset()

    def reset(self) -> None:
        settings = self.ctx.settings
        self.store, self.world = data.build(settings.seed, settings.size)
        leads.build_leads(self.store, self.world)
        catalog.build_files(self.store, self.world)
        self.features = dict(DEFAULT_FEATURES)

    def now(self) -> int:
        return int(self.ctx.clock.now().timestamp())

    def table(self, entity: str) -> Table:
        return self.store[entity]

    def exists(self, entity: str, rid: int) -> bool:
        if entity == "users":
            return 1 <= rid <= len(self.world.users)
        t = self.store.tables.get(entity)
        return t is not None and t.exists(rid) and not t.col("deleted", rid)

    def record_or_404(self, entity: str, rid: int, allow_deleted: bool = True) -> Record:
        t = self.table(entity)
        if not t.exists(rid) or (not allow_deleted and t.col("deleted", rid)):
            raise failure(404, f"{SINGULAR[entity]} not found")
        return t.get(rid)

    def hidden_fields(self, entity: str) -> tuple[str, ...]:
        """Fields the account does not have: persons' contact-sync ones with it off."""
        if entity == "persons" and not self.features.get("contact_sync", True):
            return CONTACT_SYNC
        return ()

    def written(self) -> None:
        """An API write happened (the counter tests read)."""
        self.ctx.counters.add("writes")


def body_json(req: Request) -> Any:
    try:
        return req.json()
    except (ValueError, UnicodeDecodeError):
        raise invalid("request body must be valid JSON") from None


def without(record: dict[str, Any], hidden: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in hidden} if hidden else record
