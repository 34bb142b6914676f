"""Candle intervals (``1s``, ``1m``, ``5m``, ``1h``, ``1d``) and window arithmetic on epoch µs."""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LABEL = re.compile(r"^([1-9][0-9]{0,4})([smhd])$")
US_PER_S = 1_000_000


@dataclass(frozen=True, slots=True)
class Interval:
    """One bar interval; ``label`` is what the ``candles.bar_interval`` column stores."""

    label: str
    seconds: int

    @property
    def micros(self) -> int:
        return self.seconds * US_PER_S

    def window_start_us(self, time_us: int) -> int:
        """Start of the window holding ``time_us`` (floor, also for times before 1970)."""
        return (time_us // self.micros) * self.micros


def parse_interval(label: str) -> Interval:
    match = _LABEL.match(label.strip())
    if match is None:
        raise ValueError(f"bad candle interval {label!r}: use N followed by s, m, h or d (1s, 1m)")
    seconds = int(match[1]) * _UNIT_S[match[2]]
    if 86400 % seconds != 0 and seconds % 86400 != 0:
        raise ValueError(f"candle interval {label!r} must divide a day evenly")
    return Interval(f"{match[1]}{match[2]}", seconds)


def parse_intervals(text: str) -> list[Interval]:
    """``"1s,1m"`` -> intervals, shortest first; duplicates (also ``60s`` vs ``1m``) refused."""
    out = [parse_interval(part) for part in text.split(",") if part.strip()]
    if not out:
        raise ValueError("at least one candle interval is needed")
    seconds = [i.seconds for i in out]
    if len(set(seconds)) != len(seconds):
        raise ValueError(f"duplicate candle intervals in {text!r}")
    return sorted(out, key=lambda i: i.seconds)


def rollup_plan(intervals: list[Interval]) -> tuple[list[Interval], list[Interval]]:
    """Which intervals to aggregate from trades and which to roll up from the finest one.

    The finest interval is aggregated from the trades; every interval that is a multiple of it
    is merged from its partial candles (far fewer rows), the rest from the trades too.
    """
    finest = min(intervals, key=lambda i: i.seconds)
    direct = [i for i in intervals if i is finest or i.seconds % finest.seconds != 0]
    rolled = [i for i in intervals if i not in direct]
    return direct, rolled
