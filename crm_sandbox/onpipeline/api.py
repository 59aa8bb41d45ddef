"""The Onpipeline API as its reference describes it: ``POST /<Resource>`` with a JSON body.

Read from the vendor's document (``shared/seeds/002``), independently of ``crm_api``:

- The token is sent raw in the ``Authorization`` header. No header: 400 ("Missing Token");
  a wrong one: 401 "Invalid Token". ``<api_token>-readonly`` is a read-only token: any write
  resource answers 403.
- Methods: the document says "POST,GET": both are served the same way (a JSON body is always
  required, ``{}`` when there is nothing to send). Other methods: 405 with ``Allow``.
- Answers are ``{"Header": {...}, "Data": ...}``, or ``{"Error": {"Code", "Message", "Time",
  "IP"}}``; codes are strings in the JSON and the HTTP status. Lists: 200 "Accepted";
  adds: 201 "Created" with the new ID in Data; changes and deletes: 202 "Accepted" with
  the ID in the Header and no Data (as the document's samples).
- 404 unknown resource (or an ID that does not exist), 406 invalid JSON, a value that is not
  acceptable, or an update that changes nothing; 409 duplicate organisation (OrgName +
  Postcode); 400 a mandatory field missing.
- The document has no rate-limit answer; the vendor publishes 60 requests a minute per
  account. With ``onpipeline_rate_limit`` > 0 the sandbox refuses the request over the limit in
  a rolling minute with 429, the Error envelope and ``Retry-After`` (seconds).
"""

from __future__ import annotations

import json
import math
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from crm_sandbox.core import Request, Response, SandboxContext
from crm_sandbox.onpipeline import envelopes
from crm_sandbox.onpipeline.checks import ApiError
from crm_sandbox.onpipeline.control import control
from crm_sandbox.onpipeline.resources.account_lists import AccountLists
from crm_sandbox.onpipeline.resources.activity import Activity
from crm_sandbox.onpipeline.resources.custom_fields import CustomFields
from crm_sandbox.onpipeline.resources.deals import Deals
from crm_sandbox.onpipeline.resources.invoices import Invoices
from crm_sandbox.onpipeline.resources.organizations import Organizations
from crm_sandbox.onpipeline.resources.persons import Persons
from crm_sandbox.onpipeline.state import ApiState
from crm_sandbox.onpipeline.store import RECORD_KINDS, Store

READ_ONLY_SUFFIX = "-readonly"
WINDOW_SECONDS = 60.0

# Documented resources the sandbox does not simulate (they answer 404 saying so).
NOT_SIMULATED = (
    "ActionMenuList", "ActionMenuAdd", "ActionMenuDelete", "HistoryLogAdd", "WidgetList",
    "WidgetAdd", "WidgetDelete", "Leadsin", "CallRecord", "WebhookList", "WebhookAdd",
    "WebhookDelete",
)  # fmt: skip

Resource = Callable[[dict[str, Any]], Response]


class OnpipelineAPI:
    """The simulated Onpipeline API of one sandbox account: the request pipeline (method,
    token, rate limit, resource, JSON body) in front of a table of resources, each answered by
    one of the objects in ``resources/`` sharing one ``ApiState``."""

    name = "onpipeline"

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self._lock = threading.RLock()
        self._recent: deque[float] = deque()
        self.state = ApiState(ctx)
        persons, orgs, deals = Persons(self.state), Organizations(self.state), Deals(self.state)
        activity, invoices = Activity(self.state), Invoices(self.state)
        lists, fields = AccountLists(self.state), CustomFields(self.state)
        # resource -> (what answers it, whether it writes)
        self._resources: dict[str, tuple[Resource, bool]] = {
            "PersonList": (persons.listing, False),
            "PersonAdd": (persons.add, True),
            "PersonChange": (persons.change, True),
            "PersonDelete": (persons.delete, True),
            "OrgList": (orgs.listing, False),
            "OrgAdd": (orgs.add, True),
            "OrgChange": (orgs.change, True),
            "OrgDelete": (orgs.delete, True),
            "DealsList": (deals.listing, False),
            "DealAdd": (deals.add, True),
            "DealChange": (deals.change, True),
            "DealDelete": (deals.delete, True),
            "DealUndelete": (deals.undelete, True),
            "EventList": (activity.events, False),
            "NotesList": (activity.notes, False),
            "NoteAdd": (activity.note_add, True),
            "InvoiceList": (invoices.listing, False),
            "InvoiceItems": (invoices.items, False),
            "UsersList": (lists.users, False),
            "TeamsList": (lists.teams, False),
            "PipelineList": (lists.pipelines, False),
            "ProductList": (lists.products, False),
            "LastUpdate": (lists.last_update, False),
            "ListCustomFields": (fields.listing, False),
            "FieldAdd": (fields.add, True),
            "FieldDelete": (fields.delete, True),
        }
        self._canonical = {name.lower(): name for name in self._resources}
        self._canonical.update({name.lower(): name for name in NOT_SIMULATED})

    @property
    def store(self) -> Store:
        return self.state.store

    # -- Provider protocol --

    def reset(self) -> None:
        with self._lock:
            self.state.reset()
            self._recent.clear()

    def handle(self, request: Request) -> Response:
        raw = request.path.strip("/")
        resource = self._canonical.get(raw.lower())
        self.ctx.counters.hit(f"onpipeline {request.method} /{resource or raw}")
        try:
            return self._dispatch(request, resource)
        except ApiError as error:
            return envelopes.error(self.state, request, error)

    def control(self, request: Request) -> Response | None:
        with self._lock:
            if request.method != "GET":  # touch changes records: rendered ones are stale
                self.state.forget_fragments()
            return control(self.state, request)

    # -- the request pipeline --

    def _dispatch(self, request: Request, resource: str | None) -> Response:
        if request.method not in ("POST", "GET"):
            raise ApiError(405, "Method Not Allowed - use POST (or GET)", {"Allow": "POST, GET"})
        token = request.headers.get("authorization", "").strip()
        if not token:
            raise ApiError(400, "Bad Request - Missing Token (send it in the Authorization header)")
        api_token = self.ctx.settings.api_token
        if token not in (api_token, api_token + READ_ONLY_SUFFIX):
            raise ApiError(401, "Invalid Token")
        with self._lock:
            self._spend_rate_budget()
            if resource is None:
                raise ApiError(404, "Not Found - Resource name not found")
            if resource in NOT_SIMULATED:
                raise ApiError(404, f"Not Found - {resource} is not simulated by crm-sandbox")
            answer, writes = self._resources[resource]
            if writes and token != api_token:
                raise ApiError(403, "Forbidden - this token is read only")
            try:
                body = json.loads(request.body.decode("utf-8")) if request.body.strip() else None
            except (UnicodeDecodeError, ValueError):
                body = None
            if not isinstance(body, dict):
                raise ApiError(
                    406, "Not Acceptable - Invalid JSON (send a JSON object, {} if empty)"
                )
            self.state.endpoint = resource
            response = answer(body)
            if writes:
                self.state.forget_fragments()
                self.ctx.counters.add("writes")
            return response

    def _spend_rate_budget(self) -> None:
        limit = self.ctx.settings.onpipeline_rate_limit
        if limit <= 0:
            return
        now = self.ctx.clock.now().timestamp()
        while self._recent and self._recent[0] <= now - WINDOW_SECONDS:
            self._recent.popleft()
        if len(self._recent) >= limit:
            self.ctx.counters.add("rate_limited")
            wait = max(1, math.ceil(self._recent[0] + WINDOW_SECONDS - now))
            raise ApiError(
                429,
                f"Too Many Requests - limit of {limit} requests per minute reached",
                {"Retry-After": str(wait)},
            )
        self._recent.append(now)


__all__ = ["READ_ONLY_SUFFIX", "RECORD_KINDS", "OnpipelineAPI"]
