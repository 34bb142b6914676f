"""Synthetic source end to end into the real broker, in process and through the CLI."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from typing import Any

import pytest

from cryptopipe.producer.app import run
from cryptopipe.producer.metrics import ProducerMetrics
from cryptopipe.producer.normalize import normalize_frame
from cryptopipe.producer.stopper import Stopper
from cryptopipe.producer.synthetic import SyntheticConfig, SyntheticMarket
from tests.integration.producer.conftest import StackFixture, Topics
from tests.integration.producer.harness import producer_thread_for

pytestmark = pytest.mark.kafka

START_US = 1_767_225_600_000_000


def test_synthetic_trades_land_on_kafka_exactly_as_generated(
    settings_factory: Any, topics: Topics
) -> None:
    settings = settings_factory(
        source="synthetic",
        symbols="btcusdt,ethusdt",
        rate=200_000,
        count=3000,
        seed=11,
        synthetic_start_time_us=START_US,
        synthetic_first_trade_id=1,
    )
    result = run(settings, Stopper(), ProducerMetrics(), serve_metrics=False)
    assert result.accepted == result.delivered == 3000
    assert result.failed == 0

    records = topics.read(topics.trades, expect=3000)
    for record in records:
        assert record.key == record.json()["symbol"].encode()
    # Same seed, same trades: regenerate and compare everything but the ingest time.
    config = SyntheticConfig(
        symbols=("BTCUSDT", "ETHUSDT"), rate=200_000, seed=11, start_time_us=START_US
    )
    expected = [
        normalize_frame(e.payload, symbols=None, ingest_time_us=START_US + 10**12).to_dict()  # type: ignore[union-attr]
        for e in itertools.islice(SyntheticMarket(config), 3000)
    ]

    def strip(d: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(sorted((k, v) for k, v in d.items() if k != "ingest_time_us"))

    assert sorted(map(strip, (r.json() for r in records))) == sorted(map(strip, expected))
    # per-key order preserved: ids per symbol ascend within the partition
    by_symbol: dict[str, list[int]] = {}
    for r in records:
        by_symbol.setdefault(r.json()["symbol"], []).append(r.json()["trade_id"])
    for ids in by_symbol.values():
        assert ids == sorted(ids)
    assert topics.read(topics.dlq, expect=0) == []


def test_cli_sigterm_flushes_and_exits_zero_with_metrics(
    stack: StackFixture, topics: Topics
) -> None:
    port = stack.settings.producer_metrics_port
    env = stack.env() | {
        "CRYPTOPIPE_TOPIC_TRADES": topics.trades,
        "CRYPTOPIPE_TOPIC_DLQ": topics.dlq,
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cryptopipe.cli",
            "produce",
            "--source",
            "synthetic",
            "--symbols",
            "btcusdt,ethusdt,solusdt",
            "--rate",
            "2000",
            "--seed",
            "5",
            "--metrics-port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        metrics = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    metrics = r.read().decode()
            except OSError:
                continue
            if 'cryptopipe_producer_trades_produced_total{symbol="SOLUSDT"}' in metrics:
                break
        assert "cryptopipe_producer_trades_accepted_total" in metrics
        assert "cryptopipe_producer_ingest_lag_seconds_bucket" in metrics
        assert "cryptopipe_producer_delivery_latency_seconds_bucket" in metrics
        assert "cryptopipe_producer_queue_depth_messages" in metrics
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr.decode()
    produced = int(stderr.decode().rsplit("produced ", 1)[1].split()[0])
    records = topics.read(topics.trades)
    assert len(records) == produced > 0
    ids = Counter((r.json()["symbol"], r.json()["trade_id"]) for r in records)
    assert max(ids.values()) == 1
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        got = sorted(i for s, i in ids if s == symbol)
        assert got == list(range(got[0], got[0] + len(got))), f"{symbol}: not contiguous"
        assert got[0] > 1_700_000_000_000_000  # default first id: the start time in µs


def test_unreachable_kafka_fails_loudly_with_non_zero_exit(
    stack: StackFixture, topics: Topics
) -> None:
    env = stack.env() | {
        "CRYPTOPIPE_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "CRYPTOPIPE_QUEUE_MAX_MESSAGES": "1000",
        "CRYPTOPIPE_BACKPRESSURE_TIMEOUT_S": "3",
        "CRYPTOPIPE_DELIVERY_TIMEOUT_MS": "60000",
        "CRYPTOPIPE_FLUSH_TIMEOUT_S": "2",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cryptopipe.cli",
            "produce",
            "--source",
            "synthetic",
            "--rate",
            "100000",
            "--count",
            "50000",
            "--metrics-port",
            "0",
        ],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert b"queue full" in proc.stderr
    _ = os.environ


def test_frozen_broker_applies_backpressure_and_nothing_is_lost(
    stack: StackFixture, settings_factory: Any, topics: Topics
) -> None:
    """Kafka stops answering (broker SIGSTOP) mid-run: the bounded client queue fills, the
    source is slowed down instead of buffering without bound, and once Kafka is back every
    trade is on the topic exactly once (idempotent producer, no duplicate from retries)."""
    settings = settings_factory(
        source="synthetic", symbols="btcusdt", rate=4000, count=16_000, seed=3,
        queue_max_messages=1000, synthetic_first_trade_id=1,
    )  # fmt: skip
    broker = stack.stack.process("kafka-1")
    metrics = ProducerMetrics()
    with producer_thread_for(settings, metrics) as handle:
        deadline = time.monotonic() + 30
        while handle.accepted("BTCUSDT") < 2000 and time.monotonic() < deadline:
            time.sleep(0.05)
        broker.kill(signal.SIGSTOP)
        try:
            time.sleep(3)
            stalled_at = handle.accepted("BTCUSDT")
            time.sleep(1)
            # input is held back: at most the queue's worth got past while Kafka was frozen
            assert handle.accepted("BTCUSDT") - stalled_at <= 1000
        finally:
            broker.kill(signal.SIGCONT)
        assert handle.thread is not None
        handle.thread.join(timeout=90)  # the run ends by itself at --count
    assert handle.result is not None
    assert handle.result.delivered == 16_000
    waited = metrics.registry.get_sample_value(
        "cryptopipe_producer_backpressure_wait_seconds_total"
    )
    assert waited is not None and waited > 1
    ids = Counter(r.json()["trade_id"] for r in topics.read(topics.trades, timeout_s=30))
    assert sorted(ids) == list(range(1, 16_001))
    assert max(ids.values()) == 1
