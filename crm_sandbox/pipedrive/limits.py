"""Pipedrive's two rate limits (research §7), both off unless the settings turn them on.

- Burst: at most ``burst_limit`` requests per token in a rolling 2-second window (real,
  monotonic time: a test cannot move it, and need not). A request over the limit gets 429 with
  ``Retry-After``; a token that keeps sending (10 or more 429s inside one window) gets the
  403 HTML page Cloudflare serves to abusive clients.
- Daily budget: ``daily_budget`` tokens per company per day, each request costing what the
  endpoint costs; it resets at midnight UTC of the sandbox clock, so a test can advance the
  clock a day to see it refill. Past it every request gets 429 until the reset.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from crm_sandbox.core import SandboxContext

WINDOW = 2.0
ABUSE_AFTER = 10  # 429s inside one window before the 403 page

CLOUDFLARE_403 = """<!DOCTYPE html>
<html lang="en-US"><head><title>Attention Required! | Cloudflare</title></head>
<body><div id="cf-wrapper"><h1>Sorry, you have been blocked</h1>
<h2>You are unable to access pipedrive.com</h2>
<p>This website is using a security service to protect itself from online attacks.
This error is produced by Cloudflare.</p>
<p>Cloudflare Ray ID: 0000000000000000 &bull; Performance &amp; security by Cloudflare</p>
</div></body></html>
"""


@dataclass
class Verdict:
    """What the limiter decided: headers to add, and whether to refuse (429 or 403)."""

    headers: dict[str, str] = field(default_factory=dict)
    refuse: int = 0  # 0 = go ahead, 429, or 403
    retry_after: int = 0
    reason: str = ""


class Limiter:
    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._windows: dict[str, deque[float]] = {}
        self._refusals: dict[str, deque[float]] = {}
        self._day = ""
        self._spent = 0

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
            self._refusals.clear()
            self._day = ""
            self._spent = 0

    def check(self, token: str, cost: int) -> Verdict:
        settings = self.ctx.settings
        burst, budget = settings.burst_limit, settings.daily_budget
        verdict = Verdict()
        if burst <= 0 and budget <= 0:
            return verdict
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(token, deque())
            while window and window[0] <= now - WINDOW:
                window.popleft()
            refusals = self._refusals.setdefault(token, deque())
            while refusals and refusals[0] <= now - WINDOW:
                refusals.popleft()
            day_left = self._roll_day()
            if burst > 0 and len(window) >= burst:
                wait = max(1, math.ceil(window[0] + WINDOW - now))
                refusals.append(now)
                verdict.refuse = 403 if len(refusals) > ABUSE_AFTER else 429
                verdict.retry_after = wait
                verdict.reason = "Request over limit"
            elif budget > 0 and self._spent + cost > budget:
                refusals.append(now)
                verdict.refuse = 403 if len(refusals) > ABUSE_AFTER else 429
                verdict.retry_after = day_left
                verdict.reason = "Daily API token budget exceeded"
            else:
                window.append(now)
                if budget > 0:
                    self._spent += cost
                    self.ctx.counters.add("tokens_spent", cost)
            if burst > 0:
                reset = math.ceil(window[0] + WINDOW - now) if window else 0
                verdict.headers.update(
                    {
                        "x-ratelimit-limit": str(burst),
                        "x-ratelimit-remaining": str(max(0, burst - len(window))),
                        "x-ratelimit-reset": str(max(0, reset)),
                    }
                )
            if budget > 0:
                verdict.headers.update(
                    {
                        "x-daily-ratelimit-token-limit": str(budget),
                        "x-daily-ratelimit-token-remaining": str(max(0, budget - self._spent)),
                    }
                )
        if verdict.refuse:
            verdict.headers["Retry-After"] = str(verdict.retry_after)
        return verdict

    def _roll_day(self) -> int:
        """Start a new budget day when the sandbox clock passed midnight UTC; seconds left."""
        now = self.ctx.clock.now()
        today = now.strftime("%Y-%m-%d")
        if today != self._day:
            self._day = today
            self._spent = 0
        return 86400 - (now.hour * 3600 + now.minute * 60 + now.second)
