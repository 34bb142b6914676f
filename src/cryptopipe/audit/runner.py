"""Run one audit cycle: read the topic on from the last cycle, read MySQL, judge the candle
windows that may have changed, add up every symbol and interval."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from cryptopipe.audit import sources
from cryptopipe.audit.core import (
    MICROS,
    UNKNOWN_SYMBOL,
    IntervalResult,
    RejectionCheck,
    TimeBounds,
    reconcile_rejections,
)
from cryptopipe.audit.settings import AuditSettings
from cryptopipe.audit.state import AuditState, CycleRead, Verdict
from cryptopipe.audit.validate import TradeValidator
from cryptopipe.audit.windows import CandleRow, IntervalWindows, judge_window, ok_window

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AuditReport:
    results: list[IntervalResult]
    topic_messages: int
    rejections: RejectionCheck
    started_at: float
    duration_s: float
    scanned_messages: int = -1  # read from the topic by this cycle (-1: topic_messages)

    @property
    def scanned(self) -> int:
        return self.topic_messages if self.scanned_messages < 0 else self.scanned_messages

    @property
    def topic_rejected(self) -> int:
        return sum(self.rejections.count(s) for s in self.rejections.by_symbol)

    @property
    def ok(self) -> bool:
        return (
            bool(self.results or self.rejections.by_symbol)
            and all(r.ok for r in self.results)
            and self.rejections.ok
        )

    def to_json(self) -> dict[str, Any]:
        rej = self.rejections
        return {
            "ok": self.ok,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 3),
            "topic_messages": self.topic_messages,
            "scanned_messages": self.scanned,
            "windows_judged": sum(r.windows_judged for r in self.results),
            "windows_wrong": sum(r.windows_wrong for r in self.results),
            "topic_rejected": self.topic_rejected,
            "rejected": {
                "by_symbol": {s: dict(sorted(c.items())) for s, c in sorted(rej.by_symbol.items())},
                "unknown_symbol": rej.count(UNKNOWN_SYMBOL),
                "not_recorded_by_processor": rej.unrecorded,
                "recorded_but_valid": rej.unexpected,
                "reason_differs": rej.differs,
                "in_dlq": rej.in_dlq,
                "not_in_dlq": rej.not_in_dlq,
                "mismatches": [asdict(m) for m in rej.listed],
                "problems": rej.problems(),
            },
            "results": [
                {
                    **asdict(r),
                    "missing": r.missing,
                    "double_counted": r.double_counted,
                    "ok": r.ok,
                    "problems": r.problems(),
                }
                for r in self.results
            ],
        }


CHANGE_MARGIN_S = 300.0  # a candle written this long before MySQL's clock was read is seen


def new_state(settings: AuditSettings) -> AuditState:
    """An empty state for the settings' symbols, intervals and time range."""
    return AuditState(
        {i.label: i.micros for i in settings.interval_list()},
        TimeBounds(settings.since_us(), settings.until_us()),
        set(settings.scope_symbols()) or None,
        TradeValidator(settings.max_message_bytes, settings.accepted_symbols()),
        round(settings.watermark_delay_s * MICROS),
    )


def run_audit(
    settings: AuditSettings,
    state: AuditState | None = None,
    progress: Callable[[int], None] | None = None,
) -> AuditReport:
    """One audit cycle: read the topic on from ``state`` (None: a fresh state, i.e. the whole
    topic), then judge the windows that ended before ``settings.until`` (--watch: the settle
    time) and that are new, changed on the topic or in MySQL, or not settled yet."""
    started, t0 = time.time(), time.monotonic()
    state = state if state is not None else new_state(settings)
    # read before the scan to spot a valid trade recorded as rejected; read again after it,
    # so that a rejection recorded while the topic was read is not reported missing
    watch = sources.recorded_rejections(settings).keys()
    cycle = state.read_new(settings, watch, timeout_s=settings.scan_timeout_s, progress=progress)
    recorded = sources.recorded_rejections(settings)
    state.check_recorded(settings, recorded.keys(), cycle, set(watch))
    rejections = reconcile_rejections(
        {k: (r.reason.value, r.symbol) for k, r in state.rejected.items()},
        recorded,
        state.valid_watched,
        set(settings.narrowed_symbols()) or None,
        state.read_dlq(settings, settings.scan_timeout_s) if state.rejected else None,
    )
    clock = sources.db_now(settings)
    late = sources.late_trades(settings, state.late_since(), state.symbols, state.db_clock)
    results: list[IntervalResult] = []
    for label in state.intervals:
        for windows in judge_interval(settings, state, label, cycle, late):
            results.append(windows.summary(rejections.count(windows.symbol)))
    state.db_clock = clock - timedelta(seconds=CHANGE_MARGIN_S)
    state.cycles += 1
    return AuditReport(
        results,
        state.messages,
        rejections,
        started,
        time.monotonic() - t0,
        scanned_messages=cycle.messages,
    )


def judge_interval(
    settings: AuditSettings,
    state: AuditState,
    label: str,
    cycle: CycleRead,
    late: list[tuple[str, int, int, bool]],
) -> list[IntervalWindows]:
    """Judge one interval's windows that may have changed; add up every covered window."""
    length = state.intervals[label]
    until = settings.until_us()
    user_until = state.aligned[label].until_us
    if until is not None:
        until = until // length * length
    if user_until is not None:
        until = user_until if until is None else min(until, user_until)
    first = state.cycles == 0
    prev = state.judged_until.get(label)
    # windows ending after this may have changed since the last cycle judged them
    open_from = (prev if prev is not None else int(time.time() * MICROS)) - state.lateness_us
    open_from = open_from // length * length - length
    late_by: dict[str, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    late_new: set[tuple[str, int]] = set()  # windows with a late trade recorded since
    for symbol, trade_id, time_us, new in late:
        late_by[symbol][time_us // length * length].add(trade_id)
        if new:
            late_new.add((symbol, time_us // length * length))
    series_symbols = {s for s, lab in state.windows if lab == label}
    keys: set[tuple[str, int]] = set()
    if not first:
        keys = {(s, st) for s, lab, st in cycle.changed if lab == label and st < open_from}
        keys |= {(s, st) for s, st in late_new if st < open_from}
    query = sources.CandleQuery(
        label,
        state.aligned[label].since_us,
        until,
        changed_since=None if first else state.db_clock,
        open_from_us=open_from,
    )
    rows = sources.candle_rows(settings, query, state.symbols, keys)
    judge = _SymbolJudge(state, label, until, open_from, cycle, keys, late_by, late_new, first)
    out: dict[str, tuple[IntervalWindows, tuple[int, int]]] = {}
    wrong_symbols = {s for s, lab in state.wrong if lab == label}
    for symbol in sorted(series_symbols | set(rows) | wrong_symbols):
        lo = state.judged_from(symbol, label)
        if lo is not None:
            out[symbol] = judge(symbol, lo, rows.get(symbol, {}))
    if not first and out:
        # a row deleted, or written with an old updated_at, leaves no trace the change query
        # sees: when a symbol's row count or trade_count sum in MySQL is not what its windows
        # were judged on, all its rows are read and its windows judged again (only windows
        # before open_from: later ones were just read whole, and may be written meanwhile)
        lows = {s: lo for s in out if (lo := state.judged_from(s, label)) is not None}
        bound = open_from if until is None else min(until, open_from)
        sums = sources.candle_sums(settings, label, lows, bound)
        for symbol, (_, expected) in list(out.items()):
            if sums.get(symbol, (0, 0)) != expected:
                logger.info("audit: %s %s changed in MySQL, judging it again", symbol, label)
                full = sources.CandleQuery(label, lows[symbol], until)
                again = sources.candle_rows(settings, full, {symbol})
                out[symbol] = judge(symbol, lows[symbol], again.get(symbol, {}), full=True)
    state.judged_until[label] = until
    return [windows for windows, _ in out.values()]


@dataclass(slots=True)
class _SymbolJudge:
    """Judges one symbol's windows of one interval in a cycle (see judge_interval)."""

    state: AuditState
    label: str
    until: int | None
    open_from: int
    cycle: CycleRead
    keys: set[tuple[str, int]]
    late_by: dict[str, dict[int, set[int]]]
    late_new: set[tuple[str, int]]
    first: bool

    def __call__(
        self, symbol: str, lo: int, fresh: dict[int, CandleRow], full: bool = False
    ) -> tuple[IntervalWindows, tuple[int, int]]:
        """The symbol's windows added up, and how many of those before ``open_from`` have a
        candle row and their trade_count sum. ``fresh``: the rows read this cycle (``full``:
        every row of the symbol)."""
        state, label, until, open_from = self.state, self.label, self.until, self.open_from
        series = state.windows.get((symbol, label), {})
        wrong = state.wrong[(symbol, label)]
        late_w = self.late_by.get(symbol, {})

        def covered(start: int) -> bool:
            return start >= lo and (until is None or start < until)

        every = self.first or full
        if every:
            todo = set(series) | set(fresh) | set(late_w) | set(wrong)
        else:
            todo = set(fresh) | set(wrong)
            todo |= {st for s, st in self.late_new if s == symbol}
            todo |= {st for s, lab, st in self.cycle.changed if s == symbol and lab == label}
            todo |= {st for st in series if st >= open_from}
        for start in filter(covered, todo):
            known = every or start >= open_from or (symbol, start) in self.keys or start in fresh
            candle = fresh.get(start) if known else wrong[start].candle
            result = judge_window(start, series.get(start), candle, late_w.get(start, ()))
            if result.ok:
                wrong.pop(start, None)
            else:
                wrong[start] = Verdict(result, candle)
        windows = IntervalWindows(symbol, label)
        n_rows = total = 0
        for start in sorted(filter(covered, set(series) | set(wrong))):
            tally = series.get(start)
            if start in wrong:
                result, has_row = wrong[start].result, wrong[start].candle is not None
            elif tally is not None:
                result = ok_window(start, tally, late_w.get(start, ()))
                has_row = result.candle_trades > 0
            else:
                continue
            windows.add(tally, result)
            if start < open_from:
                n_rows += has_row
                total += result.candle_trades
        return windows, (n_rows, total)
