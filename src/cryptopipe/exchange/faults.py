"""REST refusals the exchange answers with: 429 (slow down) or 418 (banned) with Retry-After,
for the next N requests or for N seconds. A request that comes back inside the Retry-After
window of a refusal gets 418 and counts as a violation, as Binance bans clients that ignore
429s; a client that honours Retry-After never sees one."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

REFUSAL_STATUSES = (429, 418)


@dataclass
class Refusal:
    status: int
    retry_after_s: float
    left: int | None  # requests still refused (None: until ``until``)
    until: float | None  # monotonic deadline (None: ``left`` requests)


@dataclass
class RestFaults:
    refusals: list[Refusal] = field(default_factory=list)
    blocked_until: float = 0.0
    violations: int = 0  # requests inside a Retry-After window
    refused: int = 0  # 429/418 answers given for a refusal

    def refuse(
        self,
        status: int = 429,
        retry_after_s: float = 1.0,
        *,
        count: int | None = None,
        seconds: float | None = None,
    ) -> None:
        """Refuse the next ``count`` requests, or every request for ``seconds``."""
        if status not in REFUSAL_STATUSES:
            raise ValueError(f"status must be one of {REFUSAL_STATUSES}, not {status}")
        if (count is None) == (seconds is None):
            raise ValueError("give either count or seconds")
        if retry_after_s < 0 or (count is not None and count < 1) or (seconds or 1) <= 0:
            raise ValueError("count, seconds and retry_after_s must be positive")
        until = None if seconds is None else time.monotonic() + seconds
        self.refusals.append(Refusal(status, retry_after_s, count, until))

    def clear(self) -> None:
        """Every refusal lifted, the Retry-After window included (a rollback)."""
        self.refusals.clear()
        self.blocked_until = 0.0

    def active(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        self.refusals = [
            r for r in self.refusals if (r.left or 0) > 0 or (r.until is not None and r.until > now)
        ]
        return [
            {
                "status": r.status,
                "retry_after_s": r.retry_after_s,
                "requests_left": r.left,
                "seconds_left": None if r.until is None else round(r.until - now, 1),
            }
            for r in self.refusals
        ]

    def check(self) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """The refusal to answer this request with (status, body, headers), or None."""
        now = time.monotonic()
        if now < self.blocked_until:
            self.violations += 1
            body = {"code": -1003, "msg": "IP banned (ignored Retry-After)."}
            return 418, body, {"Retry-After": str(math.ceil(self.blocked_until - now))}
        if not self.active():
            return None
        refusal = self.refusals[0]
        if refusal.left is not None:
            refusal.left -= 1
        self.refused += 1
        self.blocked_until = now + refusal.retry_after_s
        msg = "Too many requests." if refusal.status == 429 else "IP banned."
        headers = {"Retry-After": str(math.ceil(refusal.retry_after_s))}  # whole seconds
        return refusal.status, {"code": -1003, "msg": msg}, headers
