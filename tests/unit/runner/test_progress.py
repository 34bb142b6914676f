"""The run command's progress line, computed from the services' /metrics text."""

from __future__ import annotations

from cryptopipe.runner.progress import Snapshot, format_line, parse, total

PRODUCER = """\
# HELP cryptopipe_producer_trades_produced_total Trades acknowledged by Kafka
# TYPE cryptopipe_producer_trades_produced_total counter
cryptopipe_producer_trades_produced_total{symbol="BTCUSDT"} 700.0
cryptopipe_producer_trades_produced_total{symbol="ETHUSDT"} 300.0
"""


def test_counters_are_summed_over_labels() -> None:
    samples = parse(PRODUCER)
    assert total(samples, "cryptopipe_producer_trades_produced_total") == 1000.0
    assert total(samples, "cryptopipe_producer_dlq_records_total") is None


def test_line_shows_rates_since_the_last_snapshot_and_current_lag() -> None:
    old = Snapshot(100.0, 1000.0, 0.0, 800.0, 50.0, 2.0)
    new = Snapshot(102.0, 2000.0, 0.0, 1700.0, 300.0, 3.25)
    line = format_line(old, new)
    assert line == (
        "produced 2,000 (500/s)  in MySQL 1,700 (450/s)  lag 300 offsets  freshness 3.2s  dlq 0"
    )


def test_services_not_answering_show_dashes() -> None:
    none = Snapshot(1.0, None, None, None, None, None)
    assert format_line(none, none) == (
        "produced - (-)  in MySQL - (-)  lag - offsets  freshness -  dlq -"
    )
