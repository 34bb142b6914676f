"""The services' one histogram collector: weighted observations, labels, exemplars."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics

from cryptopipe.observability.histograms import WeightedHistogram


def test_a_weighted_observation_counts_as_many_and_le_is_inclusive() -> None:
    registry = CollectorRegistry()
    h = WeightedHistogram("x_latency_seconds", "latency", [2.0, 1.0], ["symbol"], registry)
    btc = h.child("BTCUSDT")
    btc.observe(1.0, 40)  # on the bound: in le="1.0"
    btc.observe(1.5)
    btc.observe(9.0, 2)
    h.child("ETHUSDT").observe(0.5)

    def value(suffix: str, **labels: str) -> float | None:
        return registry.get_sample_value(f"x_latency_seconds{suffix}", labels)

    assert value("_bucket", symbol="BTCUSDT", le="1.0") == 40
    assert value("_bucket", symbol="BTCUSDT", le="2.0") == 41
    assert value("_bucket", symbol="BTCUSDT", le="+Inf") == 43
    assert value("_sum", symbol="BTCUSDT") == 40 * 1.0 + 1.5 + 2 * 9.0
    assert value("_count", symbol="ETHUSDT") == 1
    assert btc.quantile(0.5) == 1.0 and btc.quantile(1.0) == float("inf")


def test_a_child_is_exported_once_it_exists() -> None:
    registry = CollectorRegistry()
    h = WeightedHistogram("x_wait_seconds", "wait", [1.0], registry=registry)
    assert "x_wait_seconds_bucket" not in generate_latest(registry).decode()
    h.child()
    assert 'x_wait_seconds_bucket{le="+Inf"} 0.0' in generate_latest(registry).decode()


def test_each_bucket_keeps_its_latest_exemplar_in_openmetrics() -> None:
    registry = CollectorRegistry()
    h = WeightedHistogram("x_e2e_seconds", "e2e", [1.0, 10.0], registry=registry)
    h.observe(0.5, 10)
    h.exemplar(0.5, "11111111111111111111111111111111")
    h.exemplar(0.7, "22222222222222222222222222222222")
    h.child().observe_with_exemplar(5.0, {"trace_id": "33333333333333333333333333333333"})
    lines = openmetrics(registry).decode().splitlines()  # type: ignore[no-untyped-call]
    (first,) = [ln for ln in lines if 'le="1.0"' in ln]
    (second,) = [ln for ln in lines if 'le="10.0"' in ln]
    assert first.startswith('x_e2e_seconds_bucket{le="1.0"} 10.0 # {trace_id="2222')
    assert second.startswith('x_e2e_seconds_bucket{le="10.0"} 11.0 # {trace_id="3333')
    assert "# {" not in generate_latest(registry).decode(), "no exemplars in the text format"
