"""Run one audit: scan the topic, read MySQL, compare every symbol and interval."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from cryptopipe.audit import sources
from cryptopipe.audit.core import CandleTotals, IdTally, IntervalResult, TimeBounds, compare
from cryptopipe.audit.settings import AuditSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AuditReport:
    results: list[IntervalResult]
    topic_messages: int
    topic_invalid: int
    started_at: float
    duration_s: float

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 3),
            "topic_messages": self.topic_messages,
            "topic_invalid": self.topic_invalid,
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


def run_audit(
    settings: AuditSettings, progress: Callable[[int], None] | None = None
) -> AuditReport:
    started, t0 = time.time(), time.monotonic()
    symbols = set(settings.symbol_list()) or None
    bounds = TimeBounds(settings.since_us(), settings.until_us())
    intervals = {i.label: i for i in settings.interval_list()}
    aligned = {label: bounds.aligned(i.micros) for label, i in intervals.items()}
    scan = sources.scan_topic(
        settings,
        list(aligned.values()),
        symbols,
        timeout_s=settings.scan_timeout_s,
        progress=progress,
    )
    results: list[IntervalResult] = []
    for label, b in aligned.items():
        totals = sources.candle_totals(settings, label, b, symbols)
        tallies = scan.tallies[b]
        for symbol in sorted(set(tallies) | set(totals)):
            results.append(
                compare(
                    symbol,
                    label,
                    tallies.get(symbol, IdTally()),
                    totals.get(symbol, CandleTotals(0, None, None)),
                )
            )
    return AuditReport(results, scan.messages, scan.invalid, started, time.monotonic() - t0)
