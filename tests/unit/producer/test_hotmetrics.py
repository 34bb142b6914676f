"""Hot-path metrics render as standard Prometheus counters and histograms."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from cryptopipe.observability.histograms import WeightedHistogram
from cryptopipe.producer.hotmetrics import HotCounter


def test_counter_cells_and_histogram_buckets_are_cumulative_with_le_inclusive() -> None:
    registry = CollectorRegistry()
    counter = HotCounter("x_trades_total", "trades", ["symbol"], registry)
    histogram = WeightedHistogram("x_lag_seconds", "lag", [0.1, 1.0], ["symbol"], registry)
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


def test_exemplars_appear_in_the_openmetrics_exposition() -> None:
    from prometheus_client.openmetrics.exposition import (  # noqa: PLC0415
        generate_latest as openmetrics,
    )

    registry = CollectorRegistry()
    histogram = WeightedHistogram("x_latency_seconds", "latency", [0.1, 1.0], [], registry)
    child = histogram.child()
    child.observe(0.05)
    child.observe_with_exemplar(0.5, {"trace_id": "0af7651916cd43dd8448eb211c80319c"})
    text = openmetrics(registry).decode()  # type: ignore[no-untyped-call]
    line = next(x for x in text.splitlines() if 'le="1.0"' in x)
    assert line.startswith('x_latency_seconds_bucket{le="1.0"} 2.0 # {trace_id="0af76519')
    assert registry.get_sample_value("x_latency_seconds_count") == 2
