"""Run one audit: scan the topic, read MySQL, compare every symbol and interval."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from cryptopipe.audit import sources
from cryptopipe.audit.core import (
    UNKNOWN_SYMBOL,
    CandleTotals,
    IdTally,
    IntervalResult,
    RejectionCheck,
    TimeBounds,
    compare,
    reconcile_rejections,
)
from cryptopipe.audit.settings import AuditSettings
from cryptopipe.audit.validate import TradeValidator

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AuditReport:
    results: list[IntervalResult]
    topic_messages: int
    rejections: RejectionCheck
    started_at: float
    duration_s: float

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


def run_audit(
    settings: AuditSettings, progress: Callable[[int], None] | None = None
) -> AuditReport:
    started, t0 = time.time(), time.monotonic()
    symbols = set(settings.scope_symbols()) or None
    bounds = TimeBounds(settings.since_us(), settings.until_us())
    intervals = {i.label: i for i in settings.interval_list()}
    aligned = {label: bounds.aligned(i.micros) for label, i in intervals.items()}
    validator = TradeValidator(settings.max_message_bytes, settings.accepted_symbols())
    scan = sources.scan_topic(
        settings,
        list(aligned.values()),
        symbols,
        validator,
        # read before the scan to spot a valid trade recorded as rejected; read again after
        # it, so that a rejection recorded while the topic was scanned is not reported missing
        watch=sources.recorded_rejections(settings).keys(),
        timeout_s=settings.scan_timeout_s,
        progress=progress,
    )
    rejections = reconcile_rejections(
        {k: (r.reason.value, r.symbol) for k, r in scan.rejected.items()},
        sources.recorded_rejections(settings),
        scan.valid_watched,
        set(settings.narrowed_symbols()) or None,
        sources.dlq_origins(settings, settings.scan_timeout_s) if scan.rejected else None,
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
                    rejections.count(symbol),
                )
            )
    return AuditReport(results, scan.messages, rejections, started, time.monotonic() - t0)
