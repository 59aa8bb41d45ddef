"""Pipedrive's time formats: v2 RFC 3339 with whole seconds, v1 "YYYY-MM-DD HH:MM:SS" (both UTC).

Internally every time is an int of epoch seconds; these helpers convert at the edges.
"""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, date, datetime

# Whole seconds only: Pipedrive rejects `toISOString()` values with milliseconds (research §1).
RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(Z|[+-]\d{2}:\d{2})$")
V1_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$")
DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


_DAYS: dict[int, str] = {}  # day number -> "YYYY-MM-DD": formatting is the hot path of lists


def day(epoch: int) -> str:
    number = epoch // 86400
    text = _DAYS.get(number)
    if text is None:
        text = time.strftime("%Y-%m-%d", time.gmtime(number * 86400))
        if len(_DAYS) < 100_000:
            _DAYS[number] = text
    return text


def iso(epoch: int) -> str:
    seconds = epoch % 86400
    return f"{day(epoch)}T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"


def v1(epoch: int) -> str:
    seconds = epoch % 86400
    return f"{day(epoch)} {seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def parse_rfc3339(text: str) -> int | None:
    """Epoch seconds, or None when the text is not RFC 3339 with whole seconds."""
    m = RFC3339.match(text)
    if not m:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(moment.timestamp())


def parse_v1(text: str) -> int | None:
    m = V1_TIME.match(text)
    if not m:
        return None
    try:
        year, month, dayn, hour, minute, second = (int(g) for g in m.groups())
        moment = datetime(year, month, dayn, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
    return int(moment.timestamp())


def parse_any(text: str) -> int | None:
    """A stored time in either format (records keep the API's own strings)."""
    if text.endswith("Z") or "+" in text[10:]:
        return parse_rfc3339(text)
    return parse_v1(text)


def parse_date(text: str) -> int | None:
    """Days since 1970-01-01 for "YYYY-MM-DD", or None."""
    m = DATE.match(text)
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3])).toordinal() - 719163
    except ValueError:
        return None


def epoch_of(year: int, month: int, dayn: int) -> int:
    return calendar.timegm((year, month, dayn, 0, 0, 0, 0, 0, 0))
