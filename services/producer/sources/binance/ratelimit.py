"""Client-side limits Binance imposes, as pure bookkeeping (the caller sleeps).

- :class:`WeightBudget`: REST request weight per minute (Binance counts per IP per calendar
  minute and reports it in ``X-MBX-USED-WEIGHT-1M``), plus the ``Retry-After`` block after a
  429/418.
- :class:`SlidingWindowLimiter`: at most N events per window (connection attempts: 300 / 5 min;
  control messages: 5 / s).
- :func:`backoff_delay`: capped exponential backoff with jitter.
"""

from __future__ import annotations

import random
from collections import deque


class WeightBudget:
    """Keeps our REST usage under ``limit`` weight per minute."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._minute = -1
        self._used = 0
        self._blocked_until = 0.0

    def _roll(self, now: float) -> None:
        minute = int(now // 60)
        if minute != self._minute:
            self._minute = minute
            self._used = 0

    def delay(self, weight: int, now: float) -> float:
        """Seconds to wait before a request of ``weight`` may go out (0: go now, and reserved)."""
        if now < self._blocked_until:
            return self._blocked_until - now
        self._roll(now)
        if self._used + weight > self.limit and self._used > 0:
            return (self._minute + 1) * 60 - now + 0.05
        self._used += weight
        return 0.0

    def observe_used(self, used: int, now: float) -> None:
        """The server's count (``X-MBX-USED-WEIGHT-1M``) wins if it is higher than ours."""
        self._roll(now)
        self._used = max(self._used, used)

    def block(self, retry_after_s: float, now: float) -> None:
        """A 429/418 told us to stay away this long."""
        self._blocked_until = max(self._blocked_until, now + retry_after_s)

    @property
    def used(self) -> int:
        return self._used


class SlidingWindowLimiter:
    """At most ``max_events`` in any ``window_s``."""

    def __init__(self, max_events: int, window_s: float) -> None:
        self.max_events = max_events
        self.window_s = window_s
        self._events: deque[float] = deque()

    def delay(self, now: float) -> float:
        """Seconds to wait before the next event (0: go now, and recorded)."""
        while self._events and self._events[0] <= now - self.window_s:
            self._events.popleft()
        if len(self._events) >= self.max_events:
            return self._events[0] + self.window_s - now
        self._events.append(now)
        return 0.0


def backoff_delay(
    attempt: int, initial_s: float, max_s: float, rng: random.Random | None = None
) -> float:
    """Capped exponential backoff with "equal jitter": in [cap/2, cap]."""
    cap = min(max_s, initial_s * (2.0 ** min(max(0, attempt), 30)))
    r: float = (rng or random).random()
    return cap / 2 + r * cap / 2
