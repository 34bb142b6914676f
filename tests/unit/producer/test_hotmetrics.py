"""Hot-path metrics render as standard Prometheus counters and histograms."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from cryptopipe.producer.hotmetrics import HotCounter, HotHistogram


def test_counter_cells_and_histogram_buckets_are_cumulative_with_le_inclusive() -> None:
    registry = CollectorRegistry()
    counter = HotCounter("x_trades_total", "trades", ["symbol"], registry)
    histogram = HotHistogram("x_lag_seconds", "lag", ["symbol"], [0.1, 1.0], registry)
    cell = counter.cell("BTCUSDT")
    cell[0] += 3
    child = histogram.child("BTCUSDT")
    for observed in (0.05, 0.1, 0.5, 7.0):
        child.observe(observed)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("x_trades_total", symbol="BTCUSDT") == 3
    assert value("x_lag_seconds_bucket", symbol="BTCUSDT", le="0.1") == 2  # 0.1 <= 0.1
    assert value("x_lag_seconds_bucket", symbol="BTCUSDT", le="1.0") == 3
    assert value("x_lag_seconds_bucket", symbol="BTCUSDT", le="+Inf") == 4
    assert value("x_lag_seconds_count", symbol="BTCUSDT") == 4
    assert value("x_lag_seconds_sum", symbol="BTCUSDT") == 7.65
    text = generate_latest(registry).decode()
    assert "# TYPE x_trades_total counter" in text
    assert "# TYPE x_lag_seconds histogram" in text
