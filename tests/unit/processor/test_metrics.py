from __future__ import annotations

import json

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from cryptopipe.processor.metrics import (
    LagCollector,
    ProcessorMetrics,
    WeightedHistogram,
    kafka_lag,
)


def test_kafka_lag_from_progress_offsets() -> None:
    end = json.dumps({"crypto.trades": {"0": 100, "1": 50}})
    latest = {"crypto.trades": {"0": 130, "1": 50, "2": 7}}
    assert kafka_lag(end, latest) == {"crypto.trades": 37}
    assert kafka_lag(None, None) == {}


def test_weighted_histogram_counts_each_trade() -> None:
    h = WeightedHistogram("x_seconds", "x", [1.0, 2.0])
    h.observe(0.5, 3)
    h.observe(1.5, 1)
    h.observe(9.0, 1)
    buckets, total = h.snapshot()
    assert buckets == [("1.0", 3.0), ("2.0", 4.0), ("+Inf", 5.0)]
    assert total == 0.5 * 3 + 1.5 + 9.0
    assert h.quantile(0.5) == 1.0
    assert h.quantile(0.99) == float("inf")


def test_progress_and_commit_reach_the_exposition() -> None:
    m = ProcessorMetrics()
    progress = {
        "name": "candles",
        "numInputRows": 10,
        "inputRowsPerSecond": 5.0,
        "processedRowsPerSecond": 20.0,
        "durationMs": {"triggerExecution": 500},
        "sources": [
            {"endOffset": {"t": {"0": 10}}, "latestOffset": {"t": {"0": 25}}},
        ],
    }
    m.on_progress(json.dumps(progress))
    m.committed({"BTCUSDT": 1_000_000_000}, [(999_000_000, 4)], commit_s=1001.0)
    text = generate_latest(m.registry).decode()
    assert 'cryptopipe_processor_kafka_offsets_behind_latest{topic="t"} 15.0' in text
    assert "cryptopipe_processor_batch_duration_seconds_count 1.0" in text
    assert 'cryptopipe_processor_end_to_end_latency_seconds_bucket{le="3.0"} 4.0' in text
    assert 'cryptopipe_processor_end_to_end_latency_seconds_bucket{le="1.5"} 0.0' in text
    assert (
        'cryptopipe_processor_last_committed_trade_timestamp_seconds{symbol="BTCUSDT"} 1000.0'
        in text
    )
    assert 'cryptopipe_processor_freshness_seconds{symbol="BTCUSDT"}' in text


def test_weighted_histogram_exposes_trace_id_exemplars_in_openmetrics() -> None:
    registry = CollectorRegistry()
    h = WeightedHistogram("cryptopipe_test_latency_seconds", "x", [1.0, 2.0])
    registry.register(h)
    h.observe(1.5, 100)
    h.exemplar(1.5, "4bf92f3577b34da6a3ce929d0e0e4736")
    text = generate_openmetrics(registry).decode()  # type: ignore[no-untyped-call]
    (line,) = [ln for ln in text.splitlines() if 'le="2.0"' in ln]
    assert line.startswith('cryptopipe_test_latency_seconds_bucket{le="2.0"} 100.0 # ')
    assert 'trace_id="4bf92f3577b34da6a3ce929d0e0e4736"' in line


def test_lag_is_taken_against_the_topic_end_at_scrape_time() -> None:
    lag = LagCollector()
    lag.progress('{"crypto.trades": {"0": 10, "1": 5}}', '{"crypto.trades": {"0": 10, "1": 5}}')
    assert lag.lag() == {"crypto.trades": 0}, "the batch caught up with what it planned"

    lag.latest = lambda topic, parts: {0: 15, 1: 9}
    assert lag.lag() == {"crypto.trades": 9}, "but the topic moved on while it ran"

    def broken(topic: str, parts: list[int]) -> dict[int, int]:
        raise OSError("broker down")

    lag.latest = broken
    assert lag.lag() == {"crypto.trades": 0}, "a failed lookup falls back, the scrape works"
