"""The simulated Pipedrive API (v2 + the v1 leftovers). Placeholder: grows into a full provider."""

from __future__ import annotations

from crm_sandbox.core import Request, Response, SandboxContext


class PipedriveAPI:
    name = "pipedrive"

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx

    def handle(self, request: Request) -> Response:
        self.ctx.counters.hit(f"pipedrive {request.method} {request.path}")
        body = {"success": False, "error": "not implemented yet", "errorCode": 404}
        return Response.json(404, body)

    def reset(self) -> None:
        return None

    def control(self, request: Request) -> Response | None:
        return None


__all__ = ["PipedriveAPI"]
