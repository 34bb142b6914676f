"""The processor continues sampled trades' traces and spans the batch and its MySQL commit."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from cryptopipe.processor.batch_tracing import BatchTracer, TracedTrade

PRODUCER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PRODUCER_SPAN = "00f067aa0ba902b7"


def test_sampled_trade_spans_share_the_producer_trace_and_wrap_the_commit() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = BatchTracer(provider.get_tracer("t"), "crypto.trades", "candles")
    traced = [
        TracedTrade("BTCUSDT", 7, 1, 3, 42, f"00-{PRODUCER_TRACE}-{PRODUCER_SPAN}-01"),
        TracedTrade("BTCUSDT", 8, 1, 3, 43, "not-a-traceparent"),
    ]
    result, trace_ids = tracer.commit(5, 1000, traced, lambda: "committed")

    assert result == "committed"
    assert trace_ids == [PRODUCER_TRACE], "a malformed header is ignored, not fatal"
    spans = {s.name: s for s in exporter.get_finished_spans()}
    message = spans["crypto.trades process"]
    assert format(message.context.trace_id, "032x") == PRODUCER_TRACE
    assert message.parent is not None
    assert format(message.parent.span_id, "016x") == PRODUCER_SPAN
    assert message.kind is SpanKind.CONSUMER
    assert message.attributes is not None
    assert message.attributes["messaging.destination.partition.id"] == "3"
    assert message.attributes["messaging.kafka.offset"] == 42

    batch = spans["crypto.trades process batch"]
    assert [format(link.context.trace_id, "032x") for link in batch.links] == [PRODUCER_TRACE]
    assert batch.attributes is not None
    assert batch.attributes["messaging.batch.message_count"] == 1000
    commit = spans["mysql commit"]
    assert commit.parent is not None and commit.parent.span_id == batch.context.span_id
    assert message.end_time is not None and commit.end_time is not None
    assert message.end_time >= commit.end_time, "a trade's span ends when its commit is done"
