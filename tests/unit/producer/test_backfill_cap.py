"""A gap too large to backfill keeps only its newest trades and counts the rest as lost."""

from __future__ import annotations

from typing import Any

from cryptopipe.producer.metrics import ProducerMetrics
from cryptopipe.producer.pipeline import Pipeline
from cryptopipe.producer.sources.binance.backfill import Backfiller
from cryptopipe.producer.stopper import Stopper
from tests.unit.producer.helpers import MemorySink


def test_oversized_gap_is_trimmed_to_the_newest_trades() -> None:
    metrics = ProducerMetrics()
    pipeline = Pipeline(MemorySink(), metrics, symbols=("BTCUSDT",), source="binance")
    rest: Any = None  # not used by notify()
    backfiller = Backfiller(rest, pipeline, Stopper(), max_gap_trades=100)
    pipeline.on_gap = backfiller.notify
    pipeline.tracker.observe("BTCUSDT", 1)
    _, gap = pipeline.tracker.observe("BTCUSDT", 1002)  # 1000 missing
    assert gap is not None
    backfiller.notify(gap)
    assert pipeline.tracker.missing("BTCUSDT") == [(902, 1001)]
    lost = metrics.registry.get_sample_value(
        "cryptopipe_producer_trades_unrecoverable_total", {"symbol": "BTCUSDT"}
    )
    assert lost == 900
