"""Benchmark: per-trade cost of parse + normalize + serialize (the producer's hot path).

Run with numbers: ``pytest -m benchmark --benchmark-enable tests/unit/producer``.
"""

from __future__ import annotations

import itertools

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from cryptopipe.producer import normalize
from cryptopipe.producer.metrics import ProducerMetrics
from cryptopipe.producer.pipeline import Pipeline
from cryptopipe.producer.synthetic import SyntheticConfig, SyntheticMarket
from cryptopipe.producer.trade import Trade
from tests.unit.producer.helpers import MemorySink

pytestmark = pytest.mark.benchmark

CONFIG = SyntheticConfig(symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT"), seed=1)
FRAMES = [e.payload for e in itertools.islice(SyntheticMarket(CONFIG), 1000)]
SYMBOLS = frozenset(CONFIG.symbols)
NOW_US = CONFIG.start_time_us + 10**9


def test_bench_parse_normalize_serialize_per_1000_trades(benchmark: BenchmarkFixture) -> None:
    """1000 different frames, the decimal caches emptied first in each round (so every
    quantity and each new price is normalised once: no flattering cache hits)."""

    def thousand() -> int:
        normalize._PRICES.clear()
        normalize._QUANTITIES.clear()
        n = 0
        for raw in FRAMES:
            trade = normalize.normalize_frame(raw, symbols=SYMBOLS, ingest_time_us=NOW_US)
            assert isinstance(trade, Trade)
            n += len(trade.to_json())
        return n

    assert benchmark(thousand) > 100_000


def test_bench_pipeline_per_1000_trades(benchmark: BenchmarkFixture) -> None:
    """Whole in-process path (normalize, dedup, metrics, serialize) minus Kafka, 1000 trades."""

    def thousand() -> int:
        sink = MemorySink()
        pipeline = Pipeline(sink, ProducerMetrics(), symbols=CONFIG.symbols, source="bench")
        for raw in FRAMES:
            pipeline.handle_frame(raw, NOW_US)
            trade, _ = sink.trades[-1]
            trade.to_json()
        return len(sink.trades)

    assert benchmark(thousand) == 1000


def test_bench_synthetic_generator_per_1000_trades(benchmark: BenchmarkFixture) -> None:
    def thousand() -> int:
        return sum(1 for _ in itertools.islice(SyntheticMarket(CONFIG).frames(), 1000))

    assert benchmark(thousand) == 1000
