"""Wire one producer run: metrics, Kafka sink, pipeline and the chosen source; flush at the end."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cryptopipe.producer.errors import StartupError
from cryptopipe.producer.kafka_sink import FatalProducerError, KafkaSink
from cryptopipe.producer.metrics import ProducerMetrics
from cryptopipe.producer.pipeline import HeadersHook, Pipeline
from cryptopipe.producer.settings import ProducerSettings
from cryptopipe.producer.stopper import Stopper

logger = logging.getLogger(__name__)
__all__ = ["RunResult", "StartupError", "run"]


@dataclass
class RunResult:
    frames: int
    accepted: int
    rejected: int
    duplicates: int
    delivered: int
    dlq_delivered: int
    failed: int
    unflushed: int

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.unflushed == 0


def run(
    settings: ProducerSettings,
    stopper: Stopper | None = None,
    metrics: ProducerMetrics | None = None,
    *,
    serve_metrics: bool = True,
    headers_hook: HeadersHook | None = None,
) -> RunResult:
    """Run until the source ends, ``stopper`` fires, or Kafka fails (FatalProducerError)."""
    stopper = stopper if stopper is not None else Stopper(settings.duration_s)
    metrics = metrics if metrics is not None else ProducerMetrics()
    if serve_metrics:
        try:
            metrics.serve(settings.producer_metrics_port)
        except OSError as exc:
            raise StartupError(
                f"cannot serve metrics on port {settings.producer_metrics_port}: {exc} "
                "(set --metrics-port / CRYPTOPIPE_PRODUCER_METRICS_PORT)"
            ) from exc
    sink = KafkaSink(settings, metrics)
    pipeline = Pipeline(
        sink,
        metrics,
        symbols=settings.symbol_list,
        source=settings.source,
        max_frame_bytes=settings.max_frame_bytes,
        max_future_us=int(settings.max_future_s * 1_000_000),
        headers_hook=headers_hook,
    )
    metrics.up.set(1)
    frames = 0
    try:
        if settings.source == "synthetic":
            from cryptopipe.producer.sources.synthetic import run_synthetic  # noqa: PLC0415

            frames = run_synthetic(settings, pipeline, sink, stopper)
        elif settings.source == "replay":
            from cryptopipe.producer.sources.replay import run_replay  # noqa: PLC0415

            frames = run_replay(settings, pipeline, sink, stopper)
        else:
            from cryptopipe.producer.sources.binance.source import run_binance  # noqa: PLC0415

            frames = run_binance(settings, pipeline, sink, stopper)
    finally:
        unflushed = sink.flush()
        sink.close()
        metrics.up.set(0)
        logger.info(
            "stopping (%s): %d accepted, %d to DLQ, %d duplicates dropped, %d delivered, "
            "%d unflushed",
            stopper.reason or "source ended",
            pipeline.accepted,
            pipeline.rejected,
            pipeline.duplicates,
            sink.delivered,
            unflushed,
        )
    sink.check()
    if unflushed:
        raise FatalProducerError(
            f"{unflushed} messages not acknowledged by Kafka within "
            f"{settings.flush_timeout_s:.0f} s of stopping"
        )
    return RunResult(
        frames=frames,
        accepted=pipeline.accepted,
        rejected=pipeline.rejected,
        duplicates=pipeline.duplicates,
        delivered=sink.delivered,
        dlq_delivered=sink.dlq_delivered,
        failed=sink.failed,
        unflushed=unflushed,
    )
