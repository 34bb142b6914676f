"""Head sampling of trades: a sampled trade gets a PRODUCER span and a W3C traceparent header.

The sampling decision is one ``random()`` call, taken before any span exists, so the 99% of
trades that are not traced cost next to nothing on the hot path. The processor continues the
trace from the header, so a sampled trade is one trace across both services.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer, TracerProvider

from cryptopipe.observability import tracing
from cryptopipe.producer.settings import ProducerSettings
from cryptopipe.producer.trade import Trade

Headers = list[tuple[str, bytes]]


class TradeTracer:
    """Callable ``headers_hook`` for :class:`cryptopipe.producer.pipeline.Pipeline`."""

    def __init__(
        self,
        tracer: Tracer,
        sample_ratio: float,
        topic: str,
        *,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._tracer = tracer
        self._ratio = sample_ratio
        self._topic = topic
        self._rand = rand

    @classmethod
    def for_settings(cls, provider: TracerProvider, settings: ProducerSettings) -> TradeTracer:
        """The hook ``cryptopipe produce`` uses: the settings' sample ratio and trades topic."""
        return cls(
            provider.get_tracer("cryptopipe.producer"),
            settings.trace_sample_ratio,
            settings.topic_trades,
        )

    def __call__(self, trade: Trade) -> Headers | None:
        if self._ratio <= 0.0 or self._rand() >= self._ratio:
            return None
        span = self._tracer.start_span(
            f"{self._topic} publish",
            kind=SpanKind.PRODUCER,
            attributes={
                tracing.MESSAGING_SYSTEM: "kafka",
                tracing.MESSAGING_OPERATION_TYPE: "send",
                tracing.MESSAGING_OPERATION_NAME: "publish",
                tracing.MESSAGING_DESTINATION: self._topic,
                tracing.MESSAGING_KEY: trade.symbol,
                "cryptopipe.symbol": trade.symbol,
                "cryptopipe.trade_id": trade.trade_id,
                "cryptopipe.trade_time_us": trade.trade_time_us,
            },
            start_time=trade.ingest_time_us * 1000,
        )
        try:
            return tracing.kafka_headers(trace.set_span_in_context(span)) or None
        finally:
            span.end()


def trace_id_of(headers: Headers) -> str | None:
    """The trace id in a traceparent header (for exemplars), without parsing the rest."""
    for key, value in headers:
        if key == tracing.TRACEPARENT and len(value) >= 35:
            return value[3:35].decode()
    return None
