"""State and helpers shared by the v2 and v1 handlers."""

from __future__ import annotations

from typing import Any

from crm_sandbox.core import Request, SandboxContext
from crm_sandbox.pipedrive import catalog, data, leads
from crm_sandbox.pipedrive.limits import Limiter
from crm_sandbox.pipedrive.oauth import OAuthServer
from crm_sandbox.pipedrive.store import Record, Store, Table
from crm_sandbox.pipedrive.validate import failure, invalid

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

UNAUTHORIZED = {
    "success": False,
    "error": "unauthorized access",
    "errorCode": 401,
    "error_info": "Please check developers.pipedrive.com",
}


class HandlerBase:
    """The account (store, world), the clock, OAuth and limits, and helpers every handler uses."""

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.store: Store
        self.world: data.World
        self.oauth = OAuthServer(ctx)
        self.limiter = Limiter(ctx)
        self._notes_cache: dict[tuple[Any, ...], list[int]] = {}
        self.features: dict[str, bool] = dict(DEFAULT_FEATURES)
        self.reset()

    def reset(self) -> None:
        settings = self.ctx.settings
        self.store, self.world = data.build(settings.seed, settings.size)
        leads.build_leads(self.store, self.world)
        catalog.build_files(self.store, self.world)
        self.features = dict(DEFAULT_FEATURES)
        self._notes_cache = {}
        self.oauth.reset()
        self.limiter.reset()

    # ---- helpers ---------------------------------------------------------------------
    def now(self) -> int:
        return int(self.ctx.clock.now().timestamp())

    def exists(self, entity: str, rid: int) -> bool:
        if entity == "users":
            return 1 <= rid <= len(self.world.users)
        t = self.store.tables.get(entity)
        return t is not None and t.exists(rid) and not t.col("deleted", rid)

    def table(self, entity: str) -> Table:
        return self.store[entity]

    def record_or_404(self, entity: str, rid: int, allow_deleted: bool = True) -> Record:
        t = self.table(entity)
        if not t.exists(rid) or (not allow_deleted and t.col("deleted", rid)):
            raise failure(404, f"{SINGULAR[entity]} not found")
        return t.get(rid)

    def body_json(self, req: Request) -> Any:
        try:
            return req.json()
        except (ValueError, UnicodeDecodeError):
            raise invalid("request body must be valid JSON") from None

    def _written(self) -> None:
        self.ctx.counters.add("writes")
        self._notes_cache.clear()
