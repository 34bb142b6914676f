"""The audit's last result as Prometheus metrics (served by `cryptopipe audit --watch`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from cryptopipe.audit.core import UNKNOWN_SYMBOL
from cryptopipe.audit.runner import AuditReport


class AuditMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.topic_trades = Gauge(
            "cryptopipe_audit_topic_trades",
            "Distinct trades on crypto.trades at the last audit.",
            ["symbol"],
            registry=r,
        )
        self.topic_duplicates = Gauge(
            "cryptopipe_audit_topic_duplicate_messages",
            "Messages on crypto.trades repeating a trade id already seen.",
            ["symbol"],
            registry=r,
        )
        self.topic_missing_ids = Gauge(
            "cryptopipe_audit_topic_missing_ids",
            "Trade ids absent from crypto.trades between the first and last id (gaps).",
            ["symbol"],
            registry=r,
        )
        self.counted = Gauge(
            "cryptopipe_audit_counted_trades",
            "Trades MySQL accounts for (candle trade_count + late trades).",
            ["symbol", "interval"],
            registry=r,
        )
        self.missing = Gauge(
            "cryptopipe_audit_missing_trades",
            "Trades on the topic that MySQL does not account for.",
            ["symbol", "interval"],
            registry=r,
        )
        self.double_counted = Gauge(
            "cryptopipe_audit_double_counted_trades",
            "Trades MySQL counts beyond the distinct trades on the topic.",
            ["symbol", "interval"],
            registry=r,
        )
        self.complete = Gauge(
            "cryptopipe_audit_complete",
            "1 when the symbol/interval was complete at the last audit, else 0.",
            ["symbol", "interval"],
            registry=r,
        )
        self.rejected = Gauge(
            "cryptopipe_audit_rejected_messages",
            "Messages on crypto.trades the processor's rules reject, by symbol ('unknown' when "
            "it cannot be known) and reason: not trades, so neither counted nor missing.",
            ["symbol", "reason"],
            registry=r,
        )
        self.rejection_mismatches = Gauge(
            "cryptopipe_audit_rejection_mismatches",
            "Messages where the rules and the processor's rejected_trades disagree: "
            "not_recorded (rules reject, no row), recorded_but_valid, reason_differs.",
            ["kind"],
            registry=r,
        )
        self.not_in_dlq = Gauge(
            "cryptopipe_audit_rejected_not_in_dlq",
            "Rejected messages with no processor record on the DLQ topic (shown, not judged: "
            "rejected_trades holds every one, a DLQ publish that keeps failing is given up).",
            registry=r,
        )
        self.last_run = Gauge(
            "cryptopipe_audit_last_run_timestamp_seconds",
            "When the last audit finished (epoch seconds).",
            registry=r,
        )
        self.last_success = Gauge(
            "cryptopipe_audit_last_success",
            "1 if the last audit found nothing missing or double counted and every rejected "
            "message recorded by the processor for the reason the rules give, else 0.",
            registry=r,
        )
        self.wrong_windows = Gauge(
            "cryptopipe_audit_wrong_windows",
            "Candle windows whose trade_count (plus late trades) differs from the distinct "
            "trades of that window on the topic, or whose first/last id is not on it.",
            ["symbol", "interval"],
            registry=r,
        )
        self.scanned = Gauge(
            "cryptopipe_audit_scanned_messages",
            "Messages the last audit cycle read from crypto.trades (--watch reads only the new).",
            registry=r,
        )
        self.duration = Gauge(
            "cryptopipe_audit_duration_seconds", "Duration of the last audit.", registry=r
        )
        self.runs = Counter(
            "cryptopipe_audit_runs_total",
            "Audits run, by result (ok, problems, error).",
            ["result"],
            registry=r,
        )

    def record(self, report: AuditReport) -> None:
        for res in report.results:
            self.topic_trades.labels(res.symbol).set(res.topic_distinct)
            self.topic_duplicates.labels(res.symbol).set(res.topic_duplicates)
            self.topic_missing_ids.labels(res.symbol).set(res.topic_missing_ids)
            self.counted.labels(res.symbol, res.interval).set(res.counted)
            self.missing.labels(res.symbol, res.interval).set(res.missing)
            self.double_counted.labels(res.symbol, res.interval).set(res.double_counted)
            self.complete.labels(res.symbol, res.interval).set(1 if res.ok else 0)
            self.wrong_windows.labels(res.symbol, res.interval).set(res.windows_wrong)
        rej = report.rejections
        self.rejected.clear()
        for symbol, reasons in rej.by_symbol.items():
            label = "unknown" if symbol == UNKNOWN_SYMBOL else symbol
            for reason, n in reasons.items():
                self.rejected.labels(label, reason).set(n)
        for kind, n in (
            ("not_recorded", rej.unrecorded),
            ("recorded_but_valid", rej.unexpected),
            ("reason_differs", rej.differs),
        ):
            self.rejection_mismatches.labels(kind).set(n)
        self.not_in_dlq.set(rej.not_in_dlq)
        self.last_run.set(report.started_at + report.duration_s)
        self.last_success.set(1 if report.ok else 0)
        self.duration.set(report.duration_s)
        self.scanned.set(report.scanned)
        self.runs.labels("ok" if report.ok else "problems").inc()

    def record_error(self) -> None:
        self.last_success.set(0)
        self.runs.labels("error").inc()
