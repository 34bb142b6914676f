"""Continue the traces of sampled trades, and span the micro-batch and its MySQL commit.

The producer samples a few trades (head sampling) and puts their W3C ``traceparent`` in the
Kafka headers. For each such trade the processor records a child span from the start of the
micro-batch that read it to the MySQL commit that counted it (or decided it was a duplicate,
late or rejected), so one trace shows the trade from the exchange to MySQL. A batch that held
traced trades also gets a ``<topic> process batch`` span linked to their producer spans, with
the MySQL transaction as its ``mysql commit`` child. Spans are recorded after the commit with
the times measured during the batch, so tracing adds nothing to the batch's critical path.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Tracer

from cryptopipe.observability import tracing

MAX_TRACED_PER_BATCH = 200
MAX_LINKS = 128


@dataclass(frozen=True, slots=True)
class TracedTrade:
    traceparent: str
    symbol: str | None
    trade_id: int | None
    status: str
    trade_time_us: int | None
    partition: int | None = None
    offset: int | None = None


def _messaging(topic: str) -> dict[str, str | int]:
    return {
        tracing.MESSAGING_SYSTEM: "kafka",
        tracing.MESSAGING_OPERATION_TYPE: "process",
        tracing.MESSAGING_OPERATION_NAME: "process",
        tracing.MESSAGING_DESTINATION: topic,
    }


def emit(
    tracer: Tracer,
    traced: list[TracedTrade],
    *,
    topic: str,
    batch_id: int,
    start_ns: int,
    end_ns: int,
    input_rows: int = 0,
    commit_start_ns: int | None = None,
) -> list[tuple[TracedTrade, str]]:
    """Record the spans; return each traced trade that had a valid parent with its trace id."""
    parents = []
    for t in traced:
        parent = tracing.context_from_headers([(tracing.TRACEPARENT, t.traceparent)])
        if parent is not None:
            parents.append((t, trace.get_current_span(parent).get_span_context(), parent))
    if not parents:
        return []
    batch = tracer.start_span(
        f"{topic} process batch",
        kind=SpanKind.CONSUMER,
        links=[Link(span_ctx) for _, span_ctx, _ in parents[:MAX_LINKS]],
        attributes={
            **_messaging(topic),
            tracing.MESSAGING_BATCH_COUNT: input_rows,
            "cryptopipe.batch_id": batch_id,
            "cryptopipe.traced_trades": len(parents),
        },
        start_time=start_ns,
    )
    commit = tracer.start_span(
        "mysql commit",
        context=trace.set_span_in_context(batch),
        kind=SpanKind.CLIENT,
        attributes={"db.system": "mysql", "db.operation.name": "COMMIT"},
        start_time=commit_start_ns if commit_start_ns is not None else start_ns,
    )
    commit.end(end_time=end_ns)
    out = []
    for t, span_ctx, parent in parents:
        attributes = {**_messaging(topic), "cryptopipe.batch_id": batch_id}
        attributes["cryptopipe.status"] = t.status
        if t.partition is not None:
            attributes[tracing.MESSAGING_PARTITION] = str(t.partition)
        if t.offset is not None:
            attributes[tracing.MESSAGING_OFFSET] = t.offset
        if t.symbol is not None:
            attributes["cryptopipe.symbol"] = t.symbol
            attributes[tracing.MESSAGING_KEY] = t.symbol
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
        out.append((t, tracing.trace_id_hex(span_ctx)))
    batch.end(end_time=end_ns)
    return out


def default_tracer() -> Tracer:
    return trace.get_tracer("cryptopipe.processor")
