"""The account's small lists (``UsersList``, ``TeamsList``, ``PipelineList``, ``ProductList``)
and ``LastUpdate`` (persons, organisations or deals changed in the last hours)."""

from __future__ import annotations

from typing import Any

from crm_sandbox.core import Response
from crm_sandbox.onpipeline.checks import (
    not_acceptable,
    require,
    text,
)
from crm_sandbox.onpipeline.envelopes import listed, listed_fragments, ok
from crm_sandbox.onpipeline.state import ApiState


class AccountLists:
    def __init__(self, state: ApiState) -> None:
        self.state = state

    def users(self, _: dict[str, Any]) -> Response:
        return listed(self.state, self.state.store.account.users)

    def teams(self, _: dict[str, Any]) -> Response:
        return listed(self.state, self.state.store.account.teams)

    def pipelines(self, _: dict[str, Any]) -> Response:
        return listed(self.state, self.state.store.account.pipelines)

    def products(self, _: dict[str, Any]) -> Response:
        return ok(self.state, self.state.store.account.products)

    # -- last update --

    def last_update(self, body: dict[str, Any]) -> Response:
        require(body, "Resource", "Hours")
        resource = str(text(body["Resource"]))
        kind = {"PersonList": "persons", "OrgList": "organizations", "DealsList": "deals"}.get(
            resource
        )
        if kind is None:
            raise not_acceptable("Resource must be PersonList, OrgList or DealsList")
        hours = str(text(body["Hours"]))
        if hours not in ("24", "12", "6", "3"):
            raise not_acceptable("Hours must be 24, 12, 6 or 3")
        now = self.state.now_ts()
        since = now - int(hours) * 3600
        changed = self.state.store.modified_since(kind, since)
        records = [
            (i, r) for i, r in self.state.store.records(kind, changed) if r["modified"] <= now
        ]
        records.sort(key=lambda item: (item[1]["modified"], item[0]))
        fragments = (self.state.fragment(kind, i, r) for i, r in records)
        return listed_fragments(self.state, fragments, Resource=resource)
