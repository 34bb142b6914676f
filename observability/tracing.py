"""OpenTelemetry tracing shared by the services, configured from the standard OTEL_* variables.

- ``OTEL_SERVICE_NAME`` (else the service's own name) becomes ``service.name``.
- ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` set: spans are exported
  with OTLP over HTTP/protobuf. ``OTEL_TRACES_EXPORTER=console`` prints them instead; otherwise
  spans are created (their ids still reach logs, Kafka headers and exemplars) but not exported.
- Head sampling: parent-based, trace-id ratio ``sample_ratio`` (a cryptopipe setting) for new
  traces. A trade's trace starts in the producer; the processor continues it from the
  ``traceparent`` Kafka header, so a sampled trade is traced across both services.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanContext

logger = logging.getLogger(__name__)

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

# Messaging semantic conventions (attribute names as the spec spells them)
MESSAGING_SYSTEM = "messaging.system"
MESSAGING_OPERATION_TYPE = "messaging.operation.type"
MESSAGING_OPERATION_NAME = "messaging.operation.name"
MESSAGING_DESTINATION = "messaging.destination.name"
MESSAGING_PARTITION = "messaging.destination.partition.id"
MESSAGING_OFFSET = "messaging.kafka.offset"
MESSAGING_KEY = "messaging.kafka.message.key"
MESSAGING_BATCH_COUNT = "messaging.batch.message_count"


def _exporter_from_env() -> SpanExporter | None:
    if os.environ.get("OTEL_TRACES_EXPORTER", "").lower() == "none":
        return None
    if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    ):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        return OTLPSpanExporter()
    if os.environ.get("OTEL_TRACES_EXPORTER", "").lower() == "console":
        return ConsoleSpanExporter()
    return None


def configure_tracing(
    service_name: str,
    sample_ratio: float,
    *,
    exporter: SpanExporter | None = None,
    synchronous: bool = False,
) -> TracerProvider:
    """Install the global tracer provider for this process and return it (call once, in main)."""
    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: name}),
        sampler=ParentBased(TraceIdRatioBased(max(0.0, min(1.0, sample_ratio)))),
    )
    exporter = exporter or _exporter_from_env()
    if exporter is not None:
        processor = SimpleSpanProcessor(exporter) if synchronous else BatchSpanProcessor(exporter)
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    logger.info(
        "tracing: service.name=%s sample_ratio=%s exporter=%s",
        name,
        sample_ratio,
        type(exporter).__name__ if exporter else "none",
    )
    return provider


def kafka_headers(context: Context | None = None) -> list[tuple[str, bytes]]:
    """W3C trace-context headers for the current (or given) span; none unless it is sampled.

    Unsampled trades carry no header at all: most trades are not traced, and the processor
    only continues traces that were sampled at the producer.
    """
    span_ctx = trace.get_current_span(context).get_span_context()
    if not (span_ctx.is_valid and span_ctx.trace_flags.sampled):
        return []
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    return [(k, v.encode()) for k, v in carrier.items() if k in (TRACEPARENT, TRACESTATE)]


def context_from_headers(
    headers: Iterable[tuple[str, bytes | str | None]] | None,
) -> Context | None:
    """The remote context carried by Kafka headers, or None when the message was not traced."""
    carrier = {}
    for key, value in headers or ():
        if key in (TRACEPARENT, TRACESTATE) and value is not None:
            carrier[key] = value.decode() if isinstance(value, bytes) else value
    if TRACEPARENT not in carrier:
        return None
    ctx = propagate.extract(carrier)
    span_ctx = trace.get_current_span(ctx).get_span_context()
    return ctx if span_ctx.is_valid else None


def span_context_from_traceparent(value: str | bytes | None) -> SpanContext | None:
    """The producer's span context from a ``traceparent`` value (for span links)."""
    if value is None:
        return None
    ctx = context_from_headers([(TRACEPARENT, value)])
    return trace.get_current_span(ctx).get_span_context() if ctx else None


def trace_id_hex(span_context: SpanContext) -> str:
    return format(span_context.trace_id, "032x")


# the exemplar label holding the trace id (Grafana's exemplarTraceIdDestinations name)
EXEMPLAR_TRACE_LABEL = "trace_id"


def exemplar_for_current_span() -> dict[str, str] | None:
    """A Prometheus exemplar label set ({"trace_id": ...}) when the current span is sampled."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid and ctx.trace_flags.sampled:
        return {EXEMPLAR_TRACE_LABEL: trace_id_hex(ctx)}
    return None
