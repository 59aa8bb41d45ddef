"""What happened to every record: the rejected-records file and the per-stream summary."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from target_crm.values import to_json

OUTCOMES = ("created", "updated", "unchanged", "rejected")


class Report:
    """Thread-safe tallies per stream plus the JSONL file of rejected records.

    Each rejected record becomes one line: ``{"stream", "reason", "api_message", "status",
    "record", "time"}``. The file is opened on the first rejection (a clean run leaves none)
    and flushed after every line, so a crash keeps what was already reported.
    """

    def __init__(self, rejected_path: str | None, *, dry_run: bool = False) -> None:
        self.rejected_path = rejected_path
        self.dry_run = dry_run
        self._lock = threading.Lock()
        self._counts: dict[str, Counter[str]] = {}
        self._file: TextIO | None = None

    def count(self, stream: str, outcome: str) -> None:
        with self._lock:
            self._counts.setdefault(stream, Counter())[outcome] += 1

    def reject(
        self,
        stream: str,
        record: dict[str, Any],
        reason: str,
        *,
        api_message: str | None = None,
        status: int | None = None,
    ) -> None:
        line = to_json(
            {
                "stream": stream,
                "reason": reason,
                "api_message": api_message,
                "status": status,
                "record": record,
                "time": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
        with self._lock:
            self._counts.setdefault(stream, Counter())["rejected"] += 1
            if self.rejected_path:
                if self._file is None:
                    Path(self.rejected_path).parent.mkdir(parents=True, exist_ok=True)
                    self._file = open(self.rejected_path, "a", encoding="utf-8")  # noqa: SIM115
                self._file.write(line + "\n")
                self._file.flush()

    def counts(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {
                stream: {name: counter[name] for name in OUTCOMES}
                for stream, counter in sorted(self._counts.items())
            }

    @property
    def rejected(self) -> int:
        with self._lock:
            return sum(counter["rejected"] for counter in self._counts.values())

    def table(self) -> str:
        """The summary as a fixed-width text table (one row per stream, then the total)."""
        counts = self.counts()
        heads = (
            ("would create", "would update", "unchanged", "rejected") if self.dry_run else OUTCOMES
        )
        width = max([len("stream"), len("total"), *(len(s) for s in counts)])
        lines = ["stream".ljust(width) + "".join(f"  {h:>12}" for h in heads)]
        total: Counter[str] = Counter()
        for stream, row in counts.items():
            total.update(row)
            lines.append(stream.ljust(width) + "".join(f"  {row[n]:>12}" for n in OUTCOMES))
        lines.append("total".ljust(width) + "".join(f"  {total[n]:>12}" for n in OUTCOMES))
        return "\n".join(lines)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
