"""Shared telemetry: trace context through Kafka headers, OTLP export, logs with trace ids."""

from __future__ import annotations

import json
import logging

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON
from opentelemetry.trace import SpanKind

from cryptopipe.observability import tracing
from cryptopipe.observability.logs import JsonFormatter
from tests.support.otlp_receiver import OtlpReceiver


def provider(service: str, endpoint: str | None = None, sampled: bool = True) -> TracerProvider:
    p = TracerProvider(
        resource=Resource.create({"service.name": service}),
        sampler=ALWAYS_ON if sampled else ALWAYS_OFF,
    )
    if endpoint:
        p.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return p


def test_trace_context_crosses_kafka_headers_and_reaches_an_otlp_collector() -> None:
    with OtlpReceiver() as receiver:
        endpoint = receiver.url + "/v1/traces"
        producer = provider("cryptopipe-producer", endpoint)
        processor = provider("cryptopipe-processor", endpoint)
        with producer.get_tracer("t").start_as_current_span(
            "crypto.trades publish", kind=SpanKind.PRODUCER
        ) as span:
            headers = tracing.kafka_headers()
            sent_trace = format(span.get_span_context().trace_id, "032x")
        assert [k for k, _ in headers] == ["traceparent"]
        assert headers[0][1].decode().split("-")[1] == sent_trace

        ctx = tracing.context_from_headers([("other", b"x"), *headers])
        assert ctx is not None
        with processor.get_tracer("t").start_as_current_span(
            "crypto.trades process", context=ctx, kind=SpanKind.CONSUMER
        ):
            pass
        producer.shutdown()
        processor.shutdown()
        spans = {s.service: s for s in receiver.snapshot()}
    assert spans["cryptopipe-producer"].trace_id == sent_trace
    assert spans["cryptopipe-processor"].trace_id == sent_trace
    assert spans["cryptopipe-processor"].parent_span_id == spans["cryptopipe-producer"].span_id


def test_unsampled_or_missing_context_puts_nothing_in_headers() -> None:
    off = provider("x", sampled=False)
    with off.get_tracer("t").start_as_current_span("s"):
        assert tracing.exemplar_for_current_span() is None
        assert tracing.kafka_headers() == [], "unsampled trades carry no trace header"
    assert tracing.context_from_headers(None) is None
    assert tracing.context_from_headers([("traceparent", b"garbage")]) is None


def test_exemplar_and_json_logs_carry_the_trace_id() -> None:
    on = provider("x")
    formatter = JsonFormatter("cryptopipe-test")
    with on.get_tracer("t").start_as_current_span("s") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        assert tracing.exemplar_for_current_span() == {"trace_id": trace_id}
        record = logging.LogRecord(
            "cryptopipe.x", logging.INFO, __file__, 1, "hello %s", ("w",), None
        )
        doc = json.loads(formatter.format(record))
    assert doc["message"] == "hello w"
    assert doc["trace_id"] == trace_id
    assert doc["service"] == "cryptopipe-test"
    assert doc["level"] == "info"
