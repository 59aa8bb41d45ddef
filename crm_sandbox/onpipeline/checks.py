"""What a request body may hold, and the Error answers for what it may not (the document's
codes: 400 a mandatory field missing, 404 no such record, 406 a value not acceptable)."""

from __future__ import annotations

import math
from typing import Any


class ApiError(Exception):
    def __init__(self, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}


def missing(name: str) -> ApiError:
    return ApiError(400, f"Bad Request - {name} is mandatory")


def not_acceptable(message: str) -> ApiError:
    return ApiError(406, f"Not Acceptable - {message}")


def text(value: Any) -> str | None:
    """A scalar field value as text; None when absent, null or empty (ignored, like PHP's empty)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    shown = str(value).strip() if not isinstance(value, bool) else str(int(value))
    return shown or None


def require(body: dict[str, Any], *names: str) -> None:
    for name in names:
        if text(body.get(name)) is None:
            raise missing(name)


def money(value: Any) -> str:
    try:
        number = float(str(value).replace(",", ""))
    except ValueError:
        raise not_acceptable("Value must be a number like 1000.00") from None
    if not math.isfinite(number):
        raise not_acceptable("Value must be a number like 1000.00")
    return f"{number:.2f}"


def contacts(value: Any, name: str, key: str, types: tuple[str, ...]) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise not_acceptable(f"{name} must be a list")
    out = []
    for entry in value:
        if not isinstance(entry, dict) or text(entry.get(key)) is None:
            raise not_acceptable(f'{name} entries need "{key}"')
        kind = str(text(entry.get("Type")) or "other").lower()
        if kind not in types:
            raise not_acceptable(f"{name} Type must be one of {'/'.join(types)}")
        out.append({key: str(text(entry[key])), "Type": kind})
    return out
