from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from cryptopipe.observability.histograms import WeightedHistogram
from cryptopipe.processor.end_offsets import EndOffsetsRefresher
from cryptopipe.processor.freshness import FreshnessRestorer
from cryptopipe.processor.metrics import LagCollector, ProcessorMetrics

TOPIC = "crypto.trades"


def test_kafka_lag_from_progress_offsets() -> None:
    lag = LagCollector()
    assert lag.lag() == {}
    end = json.dumps({TOPIC: {"0": 100, "1": 50}})
    lag.progress(end, {TOPIC: {"0": 130, "1": 50}})
    assert lag.lag() == {TOPIC: 30}
    lag.progress(None, None)
    assert lag.lag() == {TOPIC: 30}, "a progress without offsets changes nothing"


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


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sample(text: str, name: str) -> float:
    """The value of the one sample ``name`` (with its labels, or the only one of the family)."""
    (value,) = [
        v
        for series, v in (ln.rsplit(" ", 1) for ln in text.splitlines() if not ln.startswith("#"))
        if series == name or (series.startswith(name + "{") and "{" not in name)
    ]
    return float(value)


def lag_with(reads: list[object]) -> tuple[ProcessorMetrics, EndOffsetsRefresher, FakeClock]:
    """Metrics whose end offsets come from ``reads`` (one per refresh: offsets or an error)."""
    clock = FakeClock()

    def reader(topic: str) -> dict[int, int | None]:
        assert topic == TOPIC
        r = reads.pop(0)
        if isinstance(r, Exception):
            raise r
        assert isinstance(r, dict)
        return r

    refresher = EndOffsetsRefresher([TOPIC], reader, clock=clock)
    m = ProcessorMetrics()
    m.kafka_lag.end_offsets = refresher
    return m, refresher, clock


def test_lag_is_taken_against_the_end_offsets_read_after_the_batch() -> None:
    m, refresher, clock = lag_with([{0: 15, 1: 9}])
    m.kafka_lag.progress(
        '{"crypto.trades": {"0": 10, "1": 5}}', '{"crypto.trades": {"0": 10, "1": 5}}'
    )
    assert m.kafka_lag.lag() == {TOPIC: 0}, "the batch caught up with what it planned"
    clock.now += 0.3
    assert refresher.refresh()
    clock.now += 0.2
    text = generate_latest(m.registry).decode()
    assert sample(text, "cryptopipe_processor_kafka_offsets_behind_latest") == 9.0, (
        "but the topic moved on while it ran"
    )
    assert sample(text, "cryptopipe_processor_kafka_end_offsets_age_seconds") == pytest.approx(0.2)
    assert sample(text, "cryptopipe_processor_kafka_end_offsets_refresh_failures_total") == 0.0


def test_an_unreadable_partition_keeps_its_last_end_offset_and_lag_never_reads_0() -> None:
    m, refresher, clock = lag_with(
        [{0: 100, 1: 100}, {0: 150, 1: None}, OSError("all brokers down"), {0: 90, 1: 170}]
    )
    assert refresher.refresh()
    m.kafka_lag.progress({TOPIC: {"0": 80, "1": 100}}, {TOPIC: {"0": 80, "1": 100}})
    assert m.kafka_lag.lag() == {TOPIC: 20}

    clock.now += 2
    assert refresher.refresh(), "partition 1's leader is down, partition 0 was read"
    assert m.kafka_lag.lag() == {TOPIC: 70}, "partition 1 keeps its last known end (100)"
    clock.now += 3
    assert not refresher.refresh(), "no broker answers"
    m.kafka_lag.progress({TOPIC: {"0": 120, "1": 100}}, {TOPIC: {"0": 120, "1": 100}})
    text = generate_latest(m.registry).decode()
    assert sample(text, "cryptopipe_processor_kafka_offsets_behind_latest") == 30.0, (
        "the last known end offsets, not the progress' latestOffset (which would say 0)"
    )
    assert sample(text, "cryptopipe_processor_kafka_end_offsets_age_seconds") == 5.0, (
        "partition 1 was last read 5 s ago"
    )
    assert sample(text, "cryptopipe_processor_kafka_end_offsets_refresh_failures_total") == 2.0

    clock.now += 1
    assert refresher.refresh()
    assert m.kafka_lag.lag() == {TOPIC: 30 + 70}, "an end offset never goes down (0: 150, not 90)"
    assert refresher.view(TOPIC) == ({0: 150, 1: 170}, 0.0, 2)


def test_end_offsets_age_grows_from_the_start_while_nothing_was_ever_read() -> None:
    m, refresher, clock = lag_with([OSError("no metadata"), {}])
    assert not refresher.refresh()
    clock.now += 4
    assert not refresher.refresh(), "a topic without partitions is a failed read too"
    text = generate_latest(m.registry).decode()
    assert sample(text, "cryptopipe_processor_kafka_end_offsets_age_seconds") == 4.0
    assert sample(text, "cryptopipe_processor_kafka_end_offsets_refresh_failures_total") == 2.0
    assert "cryptopipe_processor_kafka_offsets_behind_latest{" not in text, "no progress yet"


@pytest.fixture
def hanging_kafka() -> Iterator[tuple[threading.Event, threading.Event]]:
    """A reader that hangs (as on a dead broker) until released; (called, release)."""
    called, release = threading.Event(), threading.Event()
    yield called, release
    release.set()


def test_a_scrape_answers_while_kafka_hangs_and_stop_joins_the_thread(
    hanging_kafka: tuple[threading.Event, threading.Event],
) -> None:
    called, release = hanging_kafka
    reads = 0

    def reader(topic: str) -> dict[int, int | None]:
        nonlocal reads
        reads += 1
        if reads == 1:
            return {0: 50}
        called.set()
        release.wait(30)  # a bounded Kafka call
        return {0: 60}

    refresher = EndOffsetsRefresher([TOPIC], reader, interval_s=0.01)
    m = ProcessorMetrics()
    m.kafka_lag.end_offsets = refresher
    m.kafka_lag.progress({TOPIC: {"0": 40}}, {TOPIC: {"0": 40}})
    refresher.start()
    assert called.wait(10), "the thread reads in the background"
    text = generate_latest(m.registry).decode()
    assert not release.is_set() and reads == 2, "this scrape ran while the read was hanging"
    assert sample(text, "cryptopipe_processor_kafka_offsets_behind_latest") == 10.0
    assert not refresher.stop(timeout_s=0.05), "a hanging read delays the stop"
    release.set()
    assert refresher.stop(timeout_s=10), "and the stop joins the thread once the read ends"


def test_failed_reads_back_off_doubling_up_to_a_cap() -> None:
    refresher = EndOffsetsRefresher([TOPIC], lambda t: {}, interval_s=1.0, max_backoff_s=5.0)
    assert [refresher.backoff_s(n) for n in (1, 2, 3, 10, 10_000)] == [2.0, 4.0, 5.0, 5.0, 5.0]


def test_freshness_is_served_from_known_times_before_any_commit() -> None:
    m = ProcessorMetrics()
    m.known_committed({"BTCUSDT": 1_000_000_000, "ETHUSDT": 2_000_000_000})
    m.committed({"BTCUSDT": 900_000_000}, [], commit_s=1001.0)  # older: changes nothing
    text = generate_latest(m.registry).decode()
    assert (
        sample(
            text, 'cryptopipe_processor_last_committed_trade_timestamp_seconds{symbol="BTCUSDT"}'
        )
        == 1000.0
    )
    assert sample(text, 'cryptopipe_processor_freshness_seconds{symbol="ETHUSDT"}') > 0.0
    m.committed({"BTCUSDT": 3_000_000_000}, [], commit_s=3001.0)
    text = generate_latest(m.registry).decode()
    assert (
        sample(
            text, 'cryptopipe_processor_last_committed_trade_timestamp_seconds{symbol="BTCUSDT"}'
        )
        == 3000.0
    )


def test_freshness_restore_retries_in_the_background_until_mysql_answers() -> None:
    attempts: list[int] = []
    applied: list[dict[str, int]] = []
    done = threading.Event()

    def read() -> dict[str, int]:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionRefusedError("MySQL down")
        return {"BTCUSDT": 5}

    def apply(newest: object) -> None:
        assert isinstance(newest, dict)
        applied.append(newest)
        done.set()

    restorer = FreshnessRestorer(read, apply, retry_start_s=0.01, retry_max_s=0.02)
    assert not restorer.start(), "the first, synchronous attempt failed: not blocked on it"
    assert done.wait(10)
    assert restorer.stop(timeout_s=10)
    assert restorer.restored and applied == [{"BTCUSDT": 5}] and len(attempts) == 3


def test_freshness_restore_stops_while_mysql_stays_down() -> None:
    def read() -> dict[str, int]:
        raise TimeoutError("MySQL frozen")

    restorer = FreshnessRestorer(read, lambda n: None, retry_start_s=0.01, retry_max_s=0.02)
    assert not restorer.start()
    assert restorer.stop(timeout_s=10)
    assert not restorer.restored
