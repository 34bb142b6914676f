"""The audit's pure per-window compare: the topic's trades of one candle window against that
window's candle row in MySQL.

A window (symbol, interval, window start) is right when ``trade_count`` of its candle plus the
late trades of the window that are on the topic equals the distinct trade ids the topic holds
for it, and the candle's first and last trade ids are trades of that window on the topic.
Judging window by window, a +1 in one window and a -1 in another are two wrong windows, not a
sum that cancels. The per symbol/interval summary (``IntervalResult``) adds the windows up:
``missing`` is the sum of the windows' shortfalls, ``double_counted`` the sum of their excess.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import chain

from cryptopipe import idranges
from cryptopipe.audit.core import MICROS, IdTally, IntervalResult

MAX_LISTED_WINDOWS = 20  # wrong windows named per symbol/interval (all are counted)


@dataclass(slots=True)
class WindowTally(IdTally):
    """The distinct ids of one window on the topic, and the lowest offset they were read at
    (a window with a message below the partition's low watermark lost it to retention)."""

    min_offset: int = 1 << 62

    def note_offset(self, offset: int) -> None:
        self.min_offset = min(self.min_offset, offset)


@dataclass(frozen=True, slots=True)
class CandleRow:
    """The columns of one candle row the audit judges."""

    trade_count: int
    first_trade_id: int
    last_trade_id: int


@dataclass(frozen=True, slots=True)
class WindowResult:
    start_us: int
    topic_distinct: int
    candle_trades: int  # 0 when MySQL has no candle for the window
    late_trades: int  # late_trades rows of the window whose trade is on the topic
    ids_ok: bool  # the candle's first/last trade ids are trades of the window on the topic

    @property
    def counted(self) -> int:
        return self.candle_trades + self.late_trades

    @property
    def missing(self) -> int:
        return max(0, self.topic_distinct - self.counted)

    @property
    def double_counted(self) -> int:
        return max(0, self.counted - self.topic_distinct)

    @property
    def ok(self) -> bool:
        return self.counted == self.topic_distinct and self.ids_ok

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.start_us // MICROS))
        what = []
        if self.missing:
            what.append(f"{self.missing} missing")
        if self.double_counted:
            what.append(f"{self.double_counted} double counted")
        if not self.ids_ok:
            what.append("first/last id not on the topic")
        return f"{when}Z: {', '.join(what)}"


def judge_window(
    start_us: int, tally: IdTally | None, candle: CandleRow | None, late_ids: Collection[int]
) -> WindowResult:
    """One window: the topic's ids (``tally``, None: none) against its candle (None: no row)
    and the late trade ids MySQL recorded for it."""
    tally = tally or IdTally()
    late = {i for i in late_ids if tally.contains(i)}
    ids_ok = True
    if candle is not None and candle.trade_count > 0:
        ids_ok = all(
            tally.contains(i) and i not in late
            for i in (candle.first_trade_id, candle.last_trade_id)
        )
    return WindowResult(
        start_us=start_us,
        topic_distinct=tally.distinct,
        candle_trades=candle.trade_count if candle is not None else 0,
        late_trades=len(late),
        ids_ok=ids_ok,
    )


def ok_window(start_us: int, tally: IdTally, late_ids: Collection[int]) -> WindowResult:
    """The result of a window judged right before and unchanged since: its candle counts the
    window's trades on the topic less its late ones."""
    late = sum(1 for i in late_ids if tally.contains(i))
    return WindowResult(start_us, tally.distinct, tally.distinct - late, late, True)


@dataclass(slots=True)
class IntervalWindows:
    """What one symbol/interval's judged windows add up to."""

    symbol: str
    interval: str
    tallies: list[IdTally] = field(default_factory=list)
    results: list[WindowResult] = field(default_factory=list)

    def add(self, tally: IdTally | None, result: WindowResult) -> None:
        if tally is not None:
            self.tallies.append(tally)
        self.results.append(result)

    def summary(self, rejected: int = 0) -> IntervalResult:
        """Totals over the windows, and the wrong ones (the first MAX_LISTED_WINDOWS by start)."""
        all_ranges = idranges.normalize(chain.from_iterable(t.ranges for t in self.tallies))
        gaps = idranges.holes(all_ranges)
        wrong = sorted((r for r in self.results if not r.ok), key=lambda r: r.start_us)
        return IntervalResult(
            symbol=self.symbol,
            interval=self.interval,
            topic_messages=sum(t.messages for t in self.tallies),
            topic_duplicates=sum(t.duplicates for t in self.tallies),
            topic_distinct=sum(r.topic_distinct for r in self.results),
            topic_first_id=all_ranges[0][0] if all_ranges else None,
            topic_last_id=all_ranges[-1][1] if all_ranges else None,
            topic_gap_ranges=len(gaps),
            topic_missing_ids=sum(hi - lo + 1 for lo, hi in gaps),
            candle_trades=sum(r.candle_trades for r in self.results),
            late_trades=sum(r.late_trades for r in self.results),
            rejected_messages=rejected,
            windows_judged=len(self.results),
            windows_wrong=len(wrong),
            missing_trades=sum(r.missing for r in wrong),
            double_counted_trades=sum(r.double_counted for r in wrong),
            ids_wrong_windows=sum(1 for r in wrong if not r.ids_ok),
            wrong_windows=[r.describe() for r in wrong[:MAX_LISTED_WINDOWS]],
        )


def judge_all(
    symbol: str,
    interval: str,
    tallies: Mapping[int, IdTally],
    candles: Mapping[int, CandleRow],
    late: Mapping[int, Collection[int]],
    judged: Iterable[int] | None = None,
) -> IntervalWindows:
    """Judge every window start in ``judged`` (None: every start with topic trades, a candle
    or late trades) of one symbol and interval."""
    out = IntervalWindows(symbol, interval)
    starts = set(tallies) | set(candles) | set(late) if judged is None else set(judged)
    for start in sorted(starts):
        tally = tallies.get(start)
        out.add(tally, judge_window(start, tally, candles.get(start), late.get(start, ())))
    return out
