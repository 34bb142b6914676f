from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from cryptopipe.observability import tracing
from cryptopipe.processor.trade_spans import TracedTrade, emit


def test_a_traced_trade_continues_the_producers_trace() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    producer_span = tracer.start_span("crypto.trades publish")
    headers = tracing.kafka_headers(trace.set_span_in_context(producer_span))
    producer_span.end()
    traceparent = dict(headers)[tracing.TRACEPARENT].decode()

    emitted = emit(
        tracer,
        [
            TracedTrade(traceparent, "BTCUSDT", 7, "accepted", 1_000_000, partition=3, offset=42),
            TracedTrade("garbage", None, None, "rejected", None),
        ],
        topic="crypto.trades",
        batch_id=3,
        start_ns=2_000_000_000,
        end_ns=3_500_000_000,
        input_rows=500,
        commit_start_ns=3_000_000_000,
    )

    parent_ctx = producer_span.get_span_context()
    assert [(t.trade_id, trace_id) for t, trace_id in emitted] == [
        (7, format(parent_ctx.trace_id, "032x"))
    ], "a malformed header is skipped, not fatal"
    spans = [s for s in exporter.get_finished_spans() if s.name == "crypto.trades process"]
    assert len(spans) == 1
    span = spans[0]
    assert span.context.trace_id == parent_ctx.trace_id
    assert span.parent is not None and span.parent.span_id == parent_ctx.span_id
    assert span.kind == SpanKind.CONSUMER
    assert (span.start_time, span.end_time) == (2_000_000_000, 3_500_000_000)
    assert span.attributes is not None
    assert span.attributes["cryptopipe.status"] == "accepted"
    assert span.attributes["cryptopipe.trade_id"] == 7
    assert span.attributes["cryptopipe.end_to_end_latency_seconds"] == "2.5"
    assert span.attributes["messaging.destination.partition.id"] == "3"
    assert span.attributes["messaging.kafka.offset"] == 42

    by_name = {s.name: s for s in exporter.get_finished_spans()}
    batch = by_name["crypto.trades process batch"]
    assert [link.context.span_id for link in batch.links] == [parent_ctx.span_id]
    assert batch.attributes is not None
    assert batch.attributes["messaging.batch.message_count"] == 500
    commit = by_name["mysql commit"]
    assert commit.parent is not None and commit.parent.span_id == batch.context.span_id
    assert (commit.start_time, commit.end_time) == (3_000_000_000, 3_500_000_000)


def test_no_valid_parent_records_nothing() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traced = [TracedTrade("00-bad", None, None, "rejected", None)]
    assert emit(provider.get_tracer("t"), traced, topic="t", batch_id=1, start_ns=1, end_ns=2) == []
    assert exporter.get_finished_spans() == ()
