"""Turning Singer record values into API values, and comparing them.

The SDK hands a sink ``datetime``/``date``/``time`` objects for date-like schema fields and
``Decimal`` for numbers; ``requests`` can serialise neither, and each API wants its own text
forms. Everything that crosses into a request body goes through :func:`plain`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any


def plain(value: Any, *, datetime_format: str = "%Y-%m-%d %H:%M:%S") -> Any:
    """``value`` with datetimes as UTC text, dates as ``YYYY-MM-DD``, Decimals as int/float."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).strftime(datetime_format)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: plain(v, datetime_format=datetime_format) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, datetime_format=datetime_format) for v in value]
    return value


def to_json(value: Any) -> str:
    """JSON text of a record (for the rejected-records file): RFC 3339 datetimes, exact numbers."""
    return json.dumps(value, default=_json_default, ensure_ascii=False, sort_keys=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


def key_text(value: Any) -> str | None:
    """The form of a match-key value that two systems agree on: trimmed, case-folded text.

    Numbers compare by value (``12``, ``12.0``, ``"12.00"`` are one key); empty is no key.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).casefold()
    if isinstance(value, int | float | Decimal):
        return _number_text(Decimal(str(value)))
    text = str(plain(value)).strip().casefold()
    if not text:
        return None
    try:  # "12" and "12.00" from a CSV are the number 12
        number = Decimal(text)
    except ArithmeticError:
        return text
    return _number_text(number) if number.is_finite() else text


def _number_text(number: Decimal) -> str:
    if number == number.to_integral_value():
        return str(number.quantize(Decimal(1)))
    return str(number.normalize())


def same(wanted: Any, current: Any) -> bool:
    """True when writing ``wanted`` over ``current`` would change nothing.

    Objects compare on the keys ``wanted`` gives (the API fills defaults for the others),
    lists item by item, numbers by value, text exactly.
    """
    if isinstance(wanted, Mapping):
        if not isinstance(current, Mapping):
            return False
        return all(same(v, current.get(k)) for k, v in wanted.items())
    if isinstance(wanted, list | tuple):
        if not isinstance(current, list | tuple) or len(wanted) != len(current):
            return False
        return all(same(w, c) for w, c in zip(wanted, current, strict=True))
    if isinstance(wanted, bool) or isinstance(current, bool):
        if {type(wanted), type(current)} <= {bool, int}:
            return bool(wanted) == bool(current)
        return bool(wanted == current)
    numbers = int | float | Decimal
    if isinstance(wanted, numbers) and isinstance(current, numbers | str):
        try:
            return Decimal(str(wanted)) == Decimal(str(current))
        except ArithmeticError:
            return False
    if isinstance(wanted, str) and isinstance(current, int | float):
        return same(current, wanted)
    return bool(wanted == current)
