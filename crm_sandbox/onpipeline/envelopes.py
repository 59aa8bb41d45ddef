"""The answers' shapes: ``{"Header": {...}, "Data": ...}`` and ``{"Error": {...}}``.

Lists: 200 "Accepted"; adds: 201 "Created" with the new ID in Data; changes and deletes:
202 "Accepted" with the ID in the Header and no Data (as the document's samples).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from crm_sandbox.core import Request, Response
from crm_sandbox.onpipeline.checks import ApiError
from crm_sandbox.onpipeline.state import ApiState, encode


def header(state: ApiState, status: str, code: int, **more: str) -> dict[str, str]:
    return {
        "Status": status,
        "Code": str(code),
        "Time": state.time_text(),
        "Endpoint": state.endpoint,
        **more,
    }


def ok(state: ApiState, data: Any, **more: str) -> Response:
    return Response.json(200, {"Header": header(state, "Accepted", 200, **more), "Data": data})


def created(state: ApiState, **data: str) -> Response:
    return Response.json(201, {"Header": header(state, "Created", 201), "Data": data})


def accepted(state: ApiState, **ids: str) -> Response:
    return Response.json(202, {"Header": header(state, "Accepted", 202, **ids)})


def listed(state: ApiState, objects: Iterable[dict[str, Any]], **more: str) -> Response:
    return listed_fragments(state, (encode(o).encode() for o in objects), **more)


def listed_fragments(state: ApiState, fragments: Iterable[bytes], **more: str) -> Response:
    """A list answer joined from one UTF-8 fragment per record (no 100,000-dict payload).

    Bytes, not str: one emoji would make a joined str take 4 bytes per character.
    """
    head = encode({"Header": header(state, "Accepted", 200, **more)})[:-1].encode()
    body = b"".join((head, b',"Data":[', b",".join(fragments), b"]}"))
    return Response(200, body, {"Content-Type": "application/json; charset=utf-8"})


def error(state: ApiState, request: Request, problem: ApiError) -> Response:
    payload = {
        "Error": {
            "Code": str(problem.code),
            "Message": problem.message,
            "Time": state.time_text(),
            "IP": request.headers.get("x-forwarded-for", "127.0.0.1"),
        }
    }
    return Response.json(problem.code, payload, problem.headers)
