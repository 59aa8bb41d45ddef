"""The account as the API serves it, shared by every resource: the records (``store``), the
account's local time, the resource being answered, and the encoded records kept between writes."""

from __future__ import annotations

import json
from typing import Any

from crm_sandbox.core import SandboxContext
from crm_sandbox.onpipeline.data import Account
from crm_sandbox.onpipeline.render import LocalTime, Renderer
from crm_sandbox.onpipeline.store import Store

FRAGMENT_CACHE_BYTES = 256 * 1024 * 1024  # encoded records kept between writes, at most
encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class ApiState:
    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.store: Store
        self.endpoint = ""  # the resource being answered (the Header's "Endpoint")
        self._local: LocalTime | None = None
        self._fragments: dict[tuple[str, int], bytes] = {}
        self._fragments_zone = ""
        self._fragment_bytes = 0
        self.reset()

    def reset(self) -> None:
        settings = self.ctx.settings
        self.store = Store(Account(settings.seed, settings.size))
        self.forget_fragments()

    def now_ts(self) -> int:
        return int(self.ctx.clock.now().timestamp())

    @property
    def local(self) -> LocalTime:
        zone = self.ctx.settings.timezone
        if self._local is None or self._local.name != zone:
            self._local = LocalTime(zone)
        return self._local

    def time_text(self) -> str:
        return self.local.format(self.now_ts())

    @property
    def renderer(self) -> Renderer:
        return Renderer(self.store, self.local)

    def fragment(self, kind: str, index: int, record: dict[str, Any]) -> bytes:
        """The record's JSON, cached until the next write (any write may change what it shows)."""
        fragments = self.fragments_now()
        key = (kind, index)
        fragment = fragments.get(key)
        if fragment is None:
            fragment = encode(self.renderer.any(kind, index, record)).encode()
            if self._fragment_bytes < FRAGMENT_CACHE_BYTES:
                fragments[key] = fragment
                self._fragment_bytes += len(fragment)
        return fragment

    def fragments_now(self) -> dict[tuple[str, int], bytes]:
        if self._fragments_zone != self.ctx.settings.timezone:
            self.forget_fragments()
            self._fragments_zone = self.ctx.settings.timezone
        return self._fragments

    def forget_fragments(self) -> None:
        self._fragments.clear()
        self._fragment_bytes = 0
