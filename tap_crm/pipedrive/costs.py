"""What a run will cost, logged before it spends: one line per selected stream with the
requests and tokens it expects, and the total against what the API says is left of the day.

The figures come from the cost table (``crm_api.pipedrive.endpoint_cost``), the streams'
bookmarks, and the parents changed since them: the parent lists (deals, archived deals,
persons, organizations, products) of the selected per-parent streams are listed once from
the oldest bookmark that needs them, counted as they stream by (nothing is kept), at the
price of one list page per 500 parents. Streams read whole, and incremental streams without
a probe, count one page per list: a floor (marked "at least"), exact for small lists and for
an unchanged account. See docs/costs.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tap_crm.pipedrive.client import AccountReader

ARCHIVED = "/api/v2/deals/archived"


@dataclass
class Tally:
    """Parents of one list a stream will see: listed (since its bookmark) and to read."""

    since: str | None
    read_at: str | None = None
    read_ids: set[int] = field(default_factory=set)
    skip_deleted: bool = False
    listed: int = 0
    to_read: int = 0

    def see(self, parent_id: int, updated: str | None, deleted: bool) -> None:
        if self.since is not None and (updated or "") < self.since:
            return
        if self.skip_deleted and deleted:
            return
        self.listed += 1
        if not (updated is not None and updated == self.read_at and parent_id in self.read_ids):
            self.to_read += 1


class ParentCounts:
    """Tallies per (stream, parent list), filled by one pass over each list."""

    def __init__(self) -> None:
        self.tallies: dict[tuple[str, str], Tally] = {}

    def want(self, stream: str, path: str, tally: Tally) -> None:
        self.tallies[(stream, path)] = tally

    def probed(self, path: str) -> bool:
        return any(p == path for _, p in self.tallies)

    def get(self, stream: str, path: str) -> Tally | None:
        return self.tallies.get((stream, path))

    def fill(self, reader: AccountReader, page_size: int) -> None:
        from tap_crm.pipedrive.client import normalize_time

        paths = sorted({path for _, path in self.tallies})
        for path in paths:
            tallies = [t for (_, p), t in self.tallies.items() if p == path]
            starts = [t.since for t in tallies]
            params: dict[str, Any] = {"sort_by": "update_time", "sort_direction": "asc"}
            if path.startswith("/api/v2/deals"):
                params["status"] = "open,won,lost,deleted"
            if None not in starts:
                params["updated_since"] = min(s for s in starts if s is not None)
            rows: Iterable[dict[str, Any]] = reader.iter_v2(
                path, params, what=f"estimating the run's cost: listing {path}", page_size=page_size
            )
            for row in rows:
                updated = normalize_time(row.get("update_time"))
                deleted = bool(row.get("is_deleted")) or row.get("status") == "deleted"
                for tally in tallies:
                    tally.see(int(row["id"]), updated, deleted)


def pages(count: int, size: int) -> int:
    """Requests to list ``count`` items ``size`` a page (an empty list still costs one)."""
    return max(1, math.ceil(count / size))


def log_estimate(reader: AccountReader) -> None:
    """Log the estimate lines for the tap's selected streams (its requests count against
    the run's cap like any other)."""
    from tap_crm.pipedrive.client import PipedriveStream

    streams = [
        s for s in reader.tap.streams.values() if s.selected and isinstance(s, PipedriveStream)
    ]
    counts = ParentCounts()
    probe = bool(reader.config.get("cost_estimate_probe", True))
    # The per-parent streams first: an entity stream is counted only from a list that is
    # probed for them anyway (alone, its one page per 500 records is not worth a probe).
    for stream in sorted(streams, key=lambda s: s.parents is None):
        if probe:
            stream.plan_estimate(counts)
    allowance = reader.connection.allowance
    spent_before = allowance.spent if allowance else 0
    if counts.tallies:
        counts.fill(reader, 500)  # the API's largest page: counting needs no small ones
    total_requests = total_tokens = 0
    exact = True
    for stream in streams:
        requests, tokens, precise = stream.estimate(counts)
        exact = exact and precise
        total_requests += requests
        total_tokens += tokens
        reader.logger.info(
            "Cost estimate: stream '%s' expects %s%s request%s, %s tokens",
            stream.name,
            "" if precise else "at least ",
            f"{requests:,}",
            "" if requests == 1 else "s",
            f"{tokens:,}",
        )
    spent = allowance.spent if allowance else 0
    total_tokens += spent
    total_requests += allowance.requests if allowance else 0
    parts = [
        f"Cost estimate: this run expects {'' if exact else 'at least '}"
        f"{total_requests:,} requests and {total_tokens:,} tokens in all "
        f"({spent:,} spent already: {spent_before:,} on discovery, "
        f"{spent - spent_before:,} on this estimate)"
    ]
    if allowance is not None and allowance.day_remaining is not None:
        of = f" of {allowance.day_limit:,}" if allowance.day_limit else ""
        parts.append(f"the API says {allowance.day_remaining:,} tokens{of} are left today")
        if total_tokens - spent > allowance.day_remaining:
            parts.append("more than is left: the run will stop when the day's budget is spent")
    else:
        parts.append("the API did not say how many tokens are left today")
    cap = allowance.limit if allowance else None
    if cap is not None:
        parts.append(
            f"this run is capped at {cap:,} tokens"
            + (": it will stop there, and the next run continues" if total_tokens > cap else "")
        )
    reader.logger.info("%s", "; ".join(parts))
