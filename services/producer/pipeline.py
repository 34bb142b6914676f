"""The one path every source feeds: normalize -> dedup/gap check -> Kafka or DLQ, with metrics.

Synchronous and I/O-free except through the ``TradeSink`` it is given, so it is unit-tested with
an in-memory sink.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from cryptopipe.dlq import DlqReason, DlqRecord, make_record
from cryptopipe.observability.histograms import HistogramCell
from cryptopipe.producer.metrics import ProducerMetrics
from cryptopipe.producer.normalize import (
    DEFAULT_MAX_FRAME_BYTES,
    DEFAULT_MAX_FUTURE_US,
    Rejection,
    decode_frame,
    normalize_payload,
)
from cryptopipe.producer.sequence import Gap, SequenceTracker, Verdict
from cryptopipe.producer.tracing_hook import trace_id_of
from cryptopipe.producer.trade import Trade

logger = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]
# Given the trade, return Kafka headers (traceparent of a sampled trade: see tracing_hook).
HeadersHook = Callable[[Trade], Headers | None]


class TradeSink(Protocol):
    def send_trade(self, trade: Trade, headers: Headers | None = None) -> None: ...

    def send_dlq(self, record: DlqRecord) -> None: ...


def now_us() -> int:
    return time.time_ns() // 1000


class Pipeline:
    """Routes frames from one source (``producer:<source>`` in DLQ headers)."""

    def __init__(
        self,
        sink: TradeSink,
        metrics: ProducerMetrics,
        *,
        symbols: tuple[str, ...],
        source: str,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        max_future_us: int = DEFAULT_MAX_FUTURE_US,
        tracker: SequenceTracker | None = None,
        on_gap: Callable[[Gap], None] | None = None,
        headers_hook: HeadersHook | None = None,
    ) -> None:
        self.sink = sink
        self.metrics = metrics
        self.symbols = frozenset(symbols)
        self.source = source
        self.dlq_source = f"producer:{source}"
        self.max_frame_bytes = max_frame_bytes
        self.max_future_us = max_future_us
        self.tracker = tracker if tracker is not None else SequenceTracker()
        self.on_gap = on_gap
        self.headers_hook = headers_hook
        self.accepted = 0
        self.rejected = 0
        self.duplicates = 0
        self._frames = metrics.frames_received.cell(source)
        self._accepted: dict[str, list[float]] = {}
        self._lag: dict[str, HistogramCell] = {}
        for symbol in symbols:
            self._accepted[symbol] = metrics.trades_accepted.cell(symbol)
            self._lag[symbol] = metrics.ingest_lag.child(symbol)

    def count_frame(self) -> None:
        self._frames[0] += 1

    def handle_frame(self, raw: bytes, receive_time_us: int | None = None) -> Trade | None:
        """One raw frame as received. Returns the trade if it was sent to Kafka."""
        self._frames[0] += 1
        payload = decode_frame(raw, self.max_frame_bytes)
        if isinstance(payload, Rejection):
            self.reject(raw, payload)
            return None
        # The per-trade hot path: positional arguments (keywords cost more).
        result = normalize_payload(
            payload,
            self.symbols,
            now_us() if receive_time_us is None else receive_time_us,
            self.max_future_us,
        )
        if isinstance(result, Rejection):
            self.reject(raw, result)
            return None
        return self.handle_trade(result)

    def handle_payload(
        self, payload: Mapping[str, Any], raw: bytes, receive_time_us: int | None = None
    ) -> Trade | None:
        """A decoded payload (frames_received already counted by the caller)."""
        received = now_us() if receive_time_us is None else receive_time_us
        result = normalize_payload(
            payload,
            symbols=self.symbols,
            ingest_time_us=received,
            max_future_us=self.max_future_us,
        )
        if isinstance(result, Rejection):
            self.reject(raw, result)
            return None
        return self.handle_trade(result)

    def handle_trade(self, trade: Trade, *, backfill: bool = False) -> Trade | None:
        """Dedup and gap check, then send. Returns the trade if it was sent."""
        if not self.tracker.advance(trade.symbol, trade.trade_id):
            verdict, gap = self.tracker.observe(trade.symbol, trade.trade_id)
            if verdict is Verdict.DUPLICATE:
                self.duplicates += 1
                self.metrics.duplicates.labels(trade.symbol).inc()
                return None
            if gap is not None:
                self._gap(gap)
        headers = self.headers_hook(trade) if self.headers_hook is not None else None
        self.sink.send_trade(trade, headers)
        self.accepted += 1
        accepted = self._accepted.get(trade.symbol)
        if accepted is None:
            accepted = self._accepted[trade.symbol] = self.metrics.trades_accepted.cell(
                trade.symbol
            )
            self._lag[trade.symbol] = self.metrics.ingest_lag.child(trade.symbol)
        accepted[0] += 1
        if backfill:
            self.metrics.trades_backfilled.labels(trade.symbol).inc()
            return trade
        lag_s = (trade.ingest_time_us - trade.trade_time_us) / 1e6
        if lag_s < 0:
            lag_s = 0.0
        trace_id = None if headers is None else trace_id_of(headers)
        if trace_id is None:
            self._lag[trade.symbol].observe(lag_s)
        else:
            self._lag[trade.symbol].observe_with_exemplar(lag_s, {"trace_id": trace_id})
        return trade

    def _gap(self, gap: Gap) -> None:
        logger.warning(
            "gap in %s: trade ids %d..%d missing (%d trades)",
            gap.symbol,
            gap.first_id,
            gap.last_id,
            gap.size,
        )
        self.metrics.gaps_detected.labels(gap.symbol).inc()
        self.metrics.gap_trades_missing.labels(gap.symbol).inc(gap.size)
        if self.on_gap is not None:
            self.on_gap(gap)

    def reject(self, raw: bytes, rejection: Rejection) -> None:
        self.rejected += 1
        self.metrics.dlq_records.labels(rejection.reason.value, self.source).inc()
        logger.debug("DLQ %s: %s", rejection.reason.value, rejection.detail)
        self.sink.send_dlq(make_record(raw, rejection.reason, rejection.detail, self.dlq_source))

    def reject_reason(self, raw: bytes, reason: DlqReason, detail: str) -> None:
        self.reject(raw, Rejection(reason, detail))
