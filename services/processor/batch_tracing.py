"""Traces for the processor: continue each sampled trade's trace, span the batch and its commit.

For every micro-batch the processor opens a ``<topic> process batch`` span (CONSUMER) linked to
the producer spans of the sampled trades it holds, with the MySQL transaction as a child
``mysql commit`` span (CLIENT). Each sampled trade also gets a ``<topic> process`` span whose
parent is the producer's span from the ``traceparent`` header: so the trade's trace id covers
both services, from the producer's receive to the MySQL commit that made it visible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Tracer

from cryptopipe.observability import tracing

T = TypeVar("T")

MAX_LINKS = 128


@dataclass(frozen=True, slots=True)
class TracedTrade:
    """A sampled trade in the batch: where it came from and its producer's trace context."""

    symbol: str
    trade_id: int
    trade_time_us: int
    partition: int
    offset: int
    traceparent: str


class BatchTracer:
    def __init__(self, tracer: Tracer, topic: str, query_name: str) -> None:
        self._tracer = tracer
        self._topic = topic
        self._query = query_name

    def _messaging(self, operation: str) -> dict[str, str | int]:
        return {
            tracing.MESSAGING_SYSTEM: "kafka",
            tracing.MESSAGING_DESTINATION: self._topic,
            tracing.MESSAGING_OPERATION_TYPE: "process",
            tracing.MESSAGING_OPERATION_NAME: operation,
            "messaging.consumer.group.name": f"spark:{self._query}",
        }

    def commit(
        self,
        batch_id: int,
        input_rows: int,
        traced: Sequence[TracedTrade],
        do_commit: Callable[[], T],
    ) -> tuple[T, list[str]]:
        """Run ``do_commit`` inside the batch's spans; return its result and the trace ids
        of the sampled trades (for latency exemplars)."""
        parents = []
        for trade in traced:
            ctx = tracing.context_from_headers([(tracing.TRACEPARENT, trade.traceparent)])
            if ctx is not None:
                parents.append((trade, ctx))
        links = [
            Link(trace.get_current_span(ctx).get_span_context()) for _, ctx in parents[:MAX_LINKS]
        ]
        with self._tracer.start_as_current_span(
            f"{self._topic} process batch",
            kind=SpanKind.CONSUMER,
            links=links,
            attributes={
                **self._messaging("process"),
                tracing.MESSAGING_BATCH_COUNT: input_rows,
                "cryptopipe.batch_id": batch_id,
                "cryptopipe.traced_trades": len(parents),
            },
        ):
            message_spans = [
                self._tracer.start_span(
                    f"{self._topic} process",
                    context=ctx,
                    kind=SpanKind.CONSUMER,
                    attributes={
                        **self._messaging("process"),
                        tracing.MESSAGING_PARTITION: str(trade.partition),
                        tracing.MESSAGING_OFFSET: trade.offset,
                        tracing.MESSAGING_KEY: trade.symbol,
                        "cryptopipe.trade_id": trade.trade_id,
                        "cryptopipe.batch_id": batch_id,
                    },
                )
                for trade, ctx in parents
            ]
            try:
                with self._tracer.start_as_current_span(
                    "mysql commit",
                    kind=SpanKind.CLIENT,
                    attributes={"db.system": "mysql", "db.operation.name": "COMMIT"},
                ):
                    result = do_commit()
            finally:
                for span in message_spans:
                    span.end()
        trace_ids = [
            tracing.trace_id_hex(trace.get_current_span(ctx).get_span_context())
            for _, ctx in parents
        ]
        return result, trace_ids
