"""What the audit knows of the trades topic between two cycles of `cryptopipe audit --watch`.

Per partition the next offset to read, so a cycle reads only the messages produced since the
last one; per symbol, interval and window start the distinct trade ids read (compact ranges:
ids of one window are one range, plus one per hole) and the lowest offset they came from;
the messages the processor's rules reject. A one-shot audit is one cycle of a fresh state.

Coverage (which windows the topic still holds whole, so only those are judged):

- A partition whose low watermark is above 0 when first read has lost messages to retention
  before the audit saw them. For each symbol read from it, windows starting before the
  symbol's first trade time read there plus the processor's lateness (its watermark delay)
  are not judged: the producer writes a symbol's trades to one partition (keyed by symbol) in
  trade-time order, so a deleted trade is older than that unless it was that far ahead of the
  trade behind it, which the processor itself would have set aside as late.
- When the low watermark later moves past offsets the audit has read, every window with a
  message below it is dropped, and no window of that symbol/interval starting before the end
  of a dropped one is judged any more: exact, since the audit read those messages.
- A symbol with candles but no trade on the topic is judged (everything double counted) only
  while no partition has lost messages; after retention its trades may simply be gone.

Memory: the windows the topic still holds (dropped with its retention), the rejected messages
still on it, and the wrong windows' verdicts. ``AuditState.memory_estimate`` counts them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from cryptopipe.audit import sources
from cryptopipe.audit.core import TimeBounds
from cryptopipe.audit.validate import Rejection, TradeValidator
from cryptopipe.audit.windows import CandleRow, WindowResult, WindowTally
from cryptopipe.config import CommonSettings

logger = logging.getLogger(__name__)

SeriesKey = tuple[str, str]  # symbol, interval label
Offset = tuple[int, int]  # partition, offset


@dataclass(slots=True)
class Verdict:
    """A wrong window's last verdict and the candle row it was judged on (None: no row)."""

    result: WindowResult
    candle: CandleRow | None


@dataclass(slots=True)
class CycleRead:
    """What one cycle read from the topic."""

    messages: int = 0
    changed: set[tuple[str, str, int]] = field(default_factory=set)  # symbol, interval, start
    read_from: dict[int, int] = field(default_factory=dict)  # partition -> first offset read


class AuditState:
    def __init__(
        self,
        intervals: dict[str, int],
        bounds: TimeBounds,
        symbols: set[str] | None,
        validator: TradeValidator,
        lateness_us: int,
    ) -> None:
        self.intervals = intervals  # label -> window length (us)
        self.aligned = {label: bounds.aligned(us) for label, us in intervals.items()}
        self.symbols = symbols
        self.validator = validator
        self.lateness_us = lateness_us
        self.next_offset: dict[int, int] = {}
        self.low_seen: dict[int, int] = {}  # per partition, the low watermark last seen
        self.windows: dict[SeriesKey, dict[int, WindowTally]] = defaultdict(dict)
        self.symbol_partitions: dict[str, set[int]] = defaultdict(set)
        # per symbol/interval: windows starting before this are not judged (see module doc)
        self.cutoff: dict[SeriesKey, int] = {}
        self.lost_messages = False  # some partition lost messages to retention
        self.rejected: dict[Offset, Rejection] = {}
        self.valid_watched: set[Offset] = set()  # valid, in scope, recorded as rejected
        self.checked_recorded: set[Offset] = set()  # recorded rejections already looked at
        self.dlq_next: dict[int, int] = {}
        self.dlq: set[Offset] = set()
        self.wrong: dict[SeriesKey, dict[int, Verdict]] = defaultdict(dict)
        self.messages = 0  # read since the state was made and still on the topic (about)
        self.cycles = 0
        self.db_clock: Any = None  # MySQL's NOW() before the last cycle's candle read
        self.judged_until: dict[str, int | None] = {}  # per interval, last cycle's limit

    # -- the topic ---------------------------------------------------------------------------

    def read_new(
        self,
        settings: CommonSettings,
        watch: Collection[Offset],
        *,
        timeout_s: float,
        progress: Callable[[int], None] | None = None,
    ) -> CycleRead:
        """Read each partition from where the last cycle stopped (its low watermark the first
        time) to its end; ``watch``: offsets the processor recorded as rejected."""
        cycle = CycleRead()
        pending: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        watched = set(watch)
        first_seen: dict[tuple[int, str], int] = {}
        lost_from: set[int] = set()
        check, with_key = self.validator.check, self.validator.with_key
        symbols = self.symbols

        def start(pid: int, low: int, high: int) -> int:
            nxt = self.next_offset.get(pid)
            if nxt is None or low > nxt:  # first read, or retention overtook the audit
                if low > 0:
                    lost_from.add(pid)
                nxt = low
            if low > self.low_seen.setdefault(pid, low):
                self._expire(pid, low)
                self.low_seen[pid] = low
            cycle.read_from[pid] = nxt
            return nxt

        def on_message(msg: Any) -> None:
            pid, offset = msg.partition(), msg.offset()
            cycle.messages += 1
            fields = check(msg.value())
            if type(fields) is Rejection:
                self.rejected[(pid, offset)] = with_key(fields, msg.key())
                return
            symbol, trade_id, time_us = fields  # type: ignore[misc]
            if symbols and symbol not in symbols:
                return
            if (pid, offset) in watched:
                self.valid_watched.add((pid, offset))
            if pid in lost_from and (pid, symbol) not in first_seen:
                first_seen[(pid, symbol)] = time_us
            self.symbol_partitions[symbol].add(pid)
            pending[symbol].append((trade_id, time_us, offset))

        def after_batch() -> None:
            for symbol, trades in pending.items():
                self._add(symbol, trades, cycle)
            pending.clear()
            if progress:
                progress(cycle.messages)

        ends = sources.read_to_end(
            settings,
            settings.topic_trades,
            on_message,
            timeout_s=timeout_s,
            after_batch=after_batch,
            start=start,
        )
        for pid, (_, high) in ends.items():
            self.next_offset[pid] = max(high, self.next_offset.get(pid, 0))
        if lost_from:
            self.lost_messages = True
        for (_, symbol), time_us in first_seen.items():
            for label in self.intervals:
                key = (symbol, label)
                self.cutoff[key] = max(self.cutoff.get(key, 0), time_us + self.lateness_us)
        self.messages += cycle.messages
        return cycle

    def _add(self, symbol: str, trades: list[tuple[int, int, int]], cycle: CycleRead) -> None:
        """``trades``: (trade id, trade time, offset) of ``symbol``, in offset order."""
        for label, length in self.intervals.items():
            bounds = self.aligned[label]
            by_start: dict[int, tuple[list[int], int]] = {}
            for trade_id, time_us, offset in trades:
                if not bounds.contains(time_us):
                    continue
                start = time_us // length * length
                got = by_start.get(start)
                if got is None:
                    by_start[start] = ([trade_id], offset)
                else:
                    got[0].append(trade_id)
            series = self.windows[(symbol, label)]
            for start, (ids, offset) in by_start.items():
                tally = series.get(start)
                if tally is None:
                    tally = series[start] = WindowTally()
                tally.add_many(ids)
                tally.note_offset(offset)
                cycle.changed.add((symbol, label, start))

    def _expire(self, pid: int, low: int) -> None:
        """Forget what of partition ``pid`` lies below its low watermark ``low``."""
        for (symbol, label), series in self.windows.items():
            if pid not in self.symbol_partitions.get(symbol, ()):
                continue
            gone = [s for s, t in series.items() if t.min_offset < low]
            if not gone:
                continue
            self.lost_messages = True
            end = max(gone) + self.intervals[label]
            self.cutoff[(symbol, label)] = max(self.cutoff.get((symbol, label), 0), end)
            for s in gone:
                del series[s]
            wrong = self.wrong.get((symbol, label), {})
            for s in [s for s in wrong if s < end]:
                del wrong[s]
        for store in (self.rejected, self.valid_watched, self.checked_recorded, self.dlq):
            for key in [k for k in store if k[0] == pid and k[1] < low]:
                if isinstance(store, dict):
                    del store[key]
                else:
                    store.discard(key)

    # -- rejections --------------------------------------------------------------------------

    def check_recorded(
        self,
        settings: CommonSettings,
        recorded: Collection[Offset],
        cycle: CycleRead,
        watched: Collection[Offset],
    ) -> None:
        """A rejection the processor recorded for a message an earlier cycle read: re-read that
        message alone to know whether the rules accept it (a valid trade recorded as rejected
        is a trade missing from the candles)."""
        read = [k for k in recorded if k[1] < self.next_offset.get(k[0], 0)]
        old = [
            k
            for k in read
            if k not in self.checked_recorded
            and k not in self.rejected
            # read by an earlier cycle, or by this one before the processor recorded it
            and (k[1] < cycle.read_from.get(k[0], 0) or k not in watched)
        ]
        self.checked_recorded.update(read)
        if not old:
            return
        for key, value in sources.read_offsets(settings, settings.topic_trades, old).items():
            fields = self.validator.check(value)
            if type(fields) is Rejection:
                continue
            symbol = fields[0]  # type: ignore[index]
            if not self.symbols or symbol in self.symbols:
                self.valid_watched.add(key)

    def read_dlq(self, settings: CommonSettings, timeout_s: float) -> set[Offset] | None:
        """The origins of the DLQ records, read on from where the last cycle stopped."""
        origins = sources.dlq_origins(settings, timeout_s, self.dlq_next)
        if origins is None:
            return None
        found, ends = origins
        self.dlq |= found
        for pid, (_, high) in ends.items():
            self.dlq_next[pid] = high
        return self.dlq

    # -- coverage ----------------------------------------------------------------------------

    def judged_from(self, symbol: str, label: str) -> int | None:
        """The first window start of ``symbol``/``label`` the audit judges (None: no window:
        the topic may have lost that symbol's trades)."""
        length = self.intervals[label]
        since = self.aligned[label].since_us
        cutoff = self.cutoff.get((symbol, label))
        if cutoff is None and symbol not in self.symbol_partitions and self.lost_messages:
            return None
        lo = -(-(cutoff or 0) // length) * length if cutoff is not None else None
        if since is not None:
            lo = since if lo is None else max(lo, since)
        return lo if lo is not None else -(1 << 62)

    def late_since(self) -> int | None:
        """The earliest trade time of a window any symbol and interval still judges (None: no
        lower bound): older late trades no longer matter."""
        lows = [self.judged_from(s, label) for s, label in self.windows] or [None]
        if None in lows or -(1 << 62) in lows:
            since = [b.since_us for b in self.aligned.values()]
            return None if None in since else min(s for s in since if s is not None)
        return min(lo for lo in lows if lo is not None)

    def memory_estimate(self) -> dict[str, int]:
        return {
            "windows": sum(len(s) for s in self.windows.values()),
            "window_ranges": sum(len(t.ranges) for s in self.windows.values() for t in s.values()),
            "rejected": len(self.rejected),
            "wrong_windows": sum(len(w) for w in self.wrong.values()),
        }
