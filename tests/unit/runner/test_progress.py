"""The run command's progress line, computed from the services' /metrics text."""

from __future__ import annotations

from cryptopipe.runner.progress import Snapshot, format_line, parse, snapshot_of, total

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


def test_freshness_is_the_worst_of_the_symbols_this_run_produces() -> None:
    # the processor restores the freshness of every symbol it ever committed; one this run
    # does not produce (ETHUSDT, last committed long ago) must not stand for the run's
    prod = parse(
        'cryptopipe_producer_trades_accepted_total{symbol="BTCUSDT"} 10\n'
        'cryptopipe_producer_trades_accepted_total{symbol="SOLUSDT"} 12\n'
    )
    proc = parse(
        'cryptopipe_processor_freshness_seconds{symbol="BTCUSDT"} 1.5\n'
        'cryptopipe_processor_freshness_seconds{symbol="SOLUSDT"} 2.5\n'
        'cryptopipe_processor_freshness_seconds{symbol="ETHUSDT"} 28900791.6\n'
    )
    assert snapshot_of(0.0, prod, proc).freshness_max_s == 2.5
    # without a producer to ask, every symbol the processor serves counts
    assert snapshot_of(0.0, {}, proc).freshness_max_s == 28900791.6
