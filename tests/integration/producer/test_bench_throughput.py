"""Benchmark: synthetic -> real Kafka (acks=all, idempotent, lz4) from one process; prints trades/s.

Wired as ``cryptopipe produce --source synthetic`` is (default settings, the tracing hook at the
default 1% sample ratio), unpaced; a first, unmeasured run warms the broker's JIT up, then
CRYPTOPIPE_BENCH_ROUNDS (default 3) runs of CRYPTOPIPE_BENCH_TRADES (default 300000) trades each
print their figures and the median. Not a timed test: it reports the figures.
``pytest -m benchmark -s tests/integration/producer/test_bench_throughput.py``
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from cryptopipe.producer.app import run
from cryptopipe.producer.metrics import ProducerMetrics
from cryptopipe.producer.settings import ProducerSettings
from cryptopipe.producer.stopper import Stopper
from cryptopipe.producer.tracing_hook import TradeTracer
from tests.integration.producer.conftest import Topics

pytestmark = [pytest.mark.kafka, pytest.mark.benchmark, pytest.mark.heavy]


WARMUP_TRADES = 100_000  # the broker's JIT warms up on these; not measured


def test_bench_synthetic_to_kafka_throughput(settings_factory: Any, topics: Topics) -> None:
    count = int(os.environ.get("CRYPTOPIPE_BENCH_TRADES", "300000"))
    rounds = int(os.environ.get("CRYPTOPIPE_BENCH_ROUNDS", "3"))
    rates = []
    for round_no in range(rounds + 1):
        warmup = round_no == 0
        n = WARMUP_TRADES if warmup else count
        settings = settings_factory(
            source="synthetic",
            symbols="btcusdt,ethusdt,solusdt,bnbusdt,xrpusdt",
            rate=100_000_000,  # unpaced: as fast as the process can go
            count=n,
            seed=round_no,
            # the product's batching (the test factory lingers less, for quick tests)
            kafka_linger_ms=ProducerSettings.model_fields["kafka_linger_ms"].default,
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
        assert result.delivered == n
        assert result.failed == 0
        lag_observed = metrics.registry.get_sample_value(
            "cryptopipe_producer_ingest_lag_seconds_count", {"symbol": "BTCUSDT"}
        )
        assert lag_observed, "the ingest-lag histogram saw the trades"
        if warmup:
            continue
        latency_sum = metrics.registry.get_sample_value(
            "cryptopipe_producer_delivery_latency_seconds_sum"
        )
        rates.append(n / elapsed)
        print(
            f"\nsynthetic -> Kafka (acks=all, idempotent, lz4, 1 process, {os.cpu_count()} "
            f"cores), round {round_no}/{rounds}: {n} trades in {elapsed:.2f} s = "
            f"{n / elapsed:,.0f} trades/s (mean delivery latency "
            f"{1000 * (latency_sum or 0) / n:.1f} ms); producer CPU {cpu:.2f} s (Python thread "
            f"{main_cpu:.2f} s = {1e6 * main_cpu / n:.2f} us/trade, librdkafka threads "
            f"{cpu - main_cpu:.2f} s); load average {os.getloadavg()[0]:.1f}"
        )
    if rates:
        print(
            f"synthetic -> Kafka after a {WARMUP_TRADES:,}-trade warm-up: median "
            f"{statistics.median(rates):,.0f} trades/s, range {min(rates):,.0f}-"
            f"{max(rates):,.0f} over {len(rates)} rounds"
        )
