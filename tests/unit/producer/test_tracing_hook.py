"""Head sampling in the producer: sampled trades get a span, a traceparent and an exemplar."""

from __future__ import annotations

import itertools

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.openmetrics.exposition import generate_latest

from cryptopipe.producer.tracing_hook import TradeTracer, trace_id_of
from tests.unit.producer.helpers import NOW_MS, frame, make


def tracer_and_spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "cryptopipe-producer"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_one_in_n_trades_is_traced_with_messaging_attributes() -> None:
    provider, exporter = tracer_and_spans()
    draws = itertools.cycle([0.5, 0.05, 0.9, 0.2])  # only 0.05 < 0.1
    hook = TradeTracer(provider.get_tracer("t"), 0.1, "crypto.trades", rand=lambda: next(draws))
    pipeline, sink, metrics = make(headers_hook=hook)
    for i in range(1, 9):
        pipeline.handle_frame(frame(i), receive_time_us=NOW_MS * 1000)

    traced = [(t.trade_id, h) for t, h in sink.trades if h]
    assert [trade_id for trade_id, _ in traced] == [2, 6]
    spans = exporter.get_finished_spans()
    assert [s.attributes["cryptopipe.trade_id"] for s in spans] == [2, 6]  # type: ignore[index]
    span = spans[0]
    assert span.name == "crypto.trades publish"
    assert span.kind is SpanKind.PRODUCER
    assert span.attributes is not None
    assert span.attributes["messaging.system"] == "kafka"
    assert span.attributes["messaging.destination.name"] == "crypto.trades"
    assert trace_id_of(traced[0][1]) == format(span.context.trace_id, "032x")

    exposition = generate_latest(metrics.registry).decode()  # type: ignore[no-untyped-call]
    last = format(spans[-1].context.trace_id, "032x")
    assert f'trace_id="{last}"' in exposition, (
        "the ingest-lag histogram carries the sampled trade's trace id as an exemplar"
    )


def test_ratio_zero_traces_nothing() -> None:
    provider, exporter = tracer_and_spans()
    hook = TradeTracer(provider.get_tracer("t"), 0.0, "crypto.trades")
    pipeline, sink, _ = make(headers_hook=hook)
    pipeline.handle_frame(frame(1), receive_time_us=NOW_MS * 1000)
    assert sink.trades[0][1] is None
    assert exporter.get_finished_spans() == ()
