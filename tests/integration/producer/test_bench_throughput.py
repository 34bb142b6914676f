"""Benchmark: synthetic -> real Kafka (acks=all, idempotent, lz4) from one process; prints trades/s.

Wired as ``cryptopipe produce --source synthetic`` is (default settings, the tracing hook at the
default 1% sample ratio), unpaced. Not a timed test: it reports the figure. Size with
CRYPTOPIPE_BENCH_TRADES (default 300000).
``pytest -m benchmark -s tests/integration/producer/test_bench_throughput.py``
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from cryptopipe.producer.app import run
from cryptopipe.producer.metrics import ProducerMetrics
from cryptopipe.producer.stopper import Stopper
from cryptopipe.producer.tracing_hook import TradeTracer
from tests.integration.producer.conftest import Topics

pytestmark = [pytest.mark.kafka, pytest.mark.benchmark]


def test_bench_synthetic_to_kafka_throughput(settings_factory: Any, topics: Topics) -> None:
    count = int(os.environ.get("CRYPTOPIPE_BENCH_TRADES", "300000"))
    settings = settings_factory(
        source="synthetic",
        symbols="btcusdt,ethusdt,solusdt,bnbusdt,xrpusdt",
        rate=100_000_000,  # unpaced: as fast as the process can go
        count=count,
    )
    hook = TradeTracer.for_settings(TracerProvider(), settings)
    metrics = ProducerMetrics()
    started = time.perf_counter()
    cpu_started = time.process_time()
    main_started = time.thread_time()
    result = run(settings, Stopper(), metrics, serve_metrics=False, headers_hook=hook)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    main_cpu = time.thread_time() - main_started
    assert result.delivered == count
    assert result.failed == 0
    traced = metrics.registry.get_sample_value(
        "cryptopipe_producer_ingest_lag_seconds_count", {"symbol": "BTCUSDT"}
    )
    assert traced, "the ingest-lag histogram saw the trades"
    latency_sum = metrics.registry.get_sample_value(
        "cryptopipe_producer_delivery_latency_seconds_sum"
    )
    print(
        f"\nsynthetic -> Kafka (acks=all, idempotent, lz4, 1 process, {os.cpu_count()} cores): "
        f"{count} trades in {elapsed:.2f} s = {count / elapsed:,.0f} trades/s "
        f"(mean delivery latency {1000 * (latency_sum or 0) / count:.1f} ms); producer CPU "
        f"{cpu:.2f} s (Python thread {main_cpu:.2f} s, librdkafka threads {cpu - main_cpu:.2f} s)"
        f" = {count / cpu:,.0f} trades per CPU-second; load average "
        f"{os.getloadavg()[0]:.1f}"
    )
