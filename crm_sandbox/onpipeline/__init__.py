"""The simulated Onpipeline API (placeholder while the full simulation is written)."""

from __future__ import annotations

from crm_sandbox.core import Request, Response, SandboxContext


class OnpipelineAPI:
    """Onpipeline: every resource is ``POST /<Resource>`` with a JSON body."""

    name = "onpipeline"

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx

    def handle(self, request: Request) -> Response:
        resource = request.path.strip("/")
        self.ctx.counters.hit(f"onpipeline {request.method} /{resource}")
        return Response.json(404, {"Error": {"Code": 404, "Message": "Resource not found"}})

    def reset(self) -> None:
        """Nothing generated yet."""

    def control(self, request: Request) -> Response | None:
        return None


__all__ = ["OnpipelineAPI"]
