"""Continue the traces of sampled trades: one CONSUMER span per traced trade of a batch.

The producer samples a few trades (head sampling) and puts their W3C ``traceparent`` in the
Kafka headers. For each such trade the processor records a child span from the start of the
micro-batch that read it to the MySQL commit that counted it (or decided it was a duplicate,
late or rejected), so one trace shows the trade from the exchange to MySQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer

from cryptopipe.observability import tracing

MAX_TRACED_PER_BATCH = 200


@dataclass(frozen=True, slots=True)
class TracedTrade:
    traceparent: str
    symbol: str | None
    trade_id: int | None
    status: str
    trade_time_us: int | None


def emit(
    tracer: Tracer,
    traced: list[TracedTrade],
    *,
    topic: str,
    batch_id: int,
    start_ns: int,
    end_ns: int,
) -> int:
    """Record one span per traced trade; returns how many had a valid parent."""
    emitted = 0
    for t in traced:
        parent = tracing.context_from_headers([(tracing.TRACEPARENT, t.traceparent)])
        if parent is None:
            continue
        attributes: dict[str, str | int] = {
            tracing.MESSAGING_SYSTEM: "kafka",
            tracing.MESSAGING_OPERATION_TYPE: "process",
            tracing.MESSAGING_OPERATION_NAME: "process",
            tracing.MESSAGING_DESTINATION: topic,
            "cryptopipe.batch_id": batch_id,
            "cryptopipe.status": t.status,
        }
        if t.symbol is not None:
            attributes["cryptopipe.symbol"] = t.symbol
        if t.trade_id is not None:
            attributes["cryptopipe.trade_id"] = t.trade_id
        if t.trade_time_us is not None:
            attributes["cryptopipe.end_to_end_latency_seconds"] = str(
                round((end_ns / 1000 - t.trade_time_us) / 1e6, 6)
            )
        span = tracer.start_span(
            f"{topic} process",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            start_time=start_ns,
        )
        span.end(end_time=end_ns)
        emitted += 1
    return emitted


def default_tracer() -> Tracer:
    return trace.get_tracer("cryptopipe.processor")
