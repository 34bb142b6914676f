"""Pure parts of `cryptopipe bench processor`: the sustained figure, reading a peer's output,
the peers' shared command line and exact units, and the plain consumer peer's candle fold."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path

import pytest

from cryptopipe.bench import dataset
from cryptopipe.bench.guard import short_error
from cryptopipe.bench.peers import candle_sink
from cryptopipe.bench.peers.kafka_candles import WINDOW_US, Fold
from cryptopipe.bench.processor_common import DATABASE
from cryptopipe.bench.processor_peers import parse_peer_output, progress_count
from cryptopipe.bench.processor_spark import WARMUP_TRADES, sustained
from cryptopipe.bench.reference import Candle, RefTrade, reference_candles
from cryptopipe.stack import mariadb
from cryptopipe.stack.settings import StackSettings


def test_sustained_is_the_batches_after_the_warm_up_over_the_wall_time_between_commits() -> None:
    # three warm-up batches reach 500k; the next three take 2 s each from the third's commit
    batches = [(200_000, 10.0), (200_000, 14.0), (200_000, 16.0)]
    batches += [(200_000, 18.0), (200_000, 20.0), (100_000, 22.0)]
    got = sustained(batches)
    assert got is not None
    rate, warmup = got
    assert warmup == 3
    assert rate == pytest.approx(500_000 / 6.0)


def test_no_sustained_figure_for_a_backlog_the_warm_up_swallows() -> None:
    assert sustained([(60_000, 5.0)]) is None  # --quick: one batch
    assert sustained([(200_000, 1.0), (200_000, 2.0), (200_000, 3.0), (1, 4.0)]) is None
    assert sustained([]) is None
    assert sustained([(10, 1.0), (10, 2.0), (10, 3.0)], warmup_trades=10) == (10.0, 1)
    assert WARMUP_TRADES == 500_000  # the processor benchmark's warm-up, as the pytest one


def test_a_peers_result_is_its_last_json_line_with_seconds() -> None:
    out = "\n".join(
        [
            "some library banner",
            json.dumps({"note": "not a result"}),
            json.dumps({"trades": 60_000, "seconds": 2.5, "first_commit_s": 1.0}),
            "",
        ]
    )
    assert parse_peer_output(out) == {"trades": 60_000, "seconds": 2.5, "first_commit_s": 1.0}
    assert parse_peer_output("Traceback (most recent call last):\n  boom") is None
    assert parse_peer_output(json.dumps({"seconds": "fast"})) is None


def test_progress_lines_of_a_peer() -> None:
    assert progress_count(f"{candle_sink.PROGRESS_PREFIX}12345\n") == 12345
    assert progress_count("WARNING quixstreams: something") is None
    assert progress_count(f"{candle_sink.PROGRESS_PREFIX}soon") is None


def test_a_jvm_error_is_reported_by_its_root_cause_on_one_line() -> None:
    jvm = RuntimeError(
        "An error occurred while calling o1308.jdbc.\n"
        ": org.apache.spark.SparkException: Job aborted\n\tat org.apache...\n"
        "Caused by: java.sql.BatchUpdateException: wrapped\n\t... 20 more\n"
        "Caused by: java.sql.SQLSyntaxErrorException: You have an error in your SQL syntax\n"
    )
    assert short_error(jvm) == (
        "RuntimeError: java.sql.SQLSyntaxErrorException: You have an error in your SQL syntax"
    )
    assert short_error(ValueError("first line\nsecond")) == "ValueError: first line"
    assert len(short_error(ValueError("x" * 5000))) <= 400


def test_the_peers_command_line_reads_back() -> None:
    args = candle_sink.PeerArgs(
        bootstrap="127.0.0.1:9092,127.0.0.1:9093",
        topic="bench.processor.backlog.ab12",
        group="bench-quix-ab12",
        table="peer_quix_candles",
        mysql_host="127.0.0.1",
        mysql_port=3307,
        mysql_database="cryptopipe_bench_processor",
        mysql_user="cryptopipe",
    )
    assert candle_sink.parse_args(args.argv()) == args
    assert "password" not in " ".join(args.argv())  # the password travels in the environment


def test_the_upsert_replaces_a_window_with_its_newer_values() -> None:
    sql = candle_sink.upsert_sql("t")
    assert sql.startswith("INSERT INTO `t` (symbol, window_start, open,")
    assert "ON DUPLICATE KEY UPDATE open = VALUES(open)," in sql
    assert "trade_count = VALUES(trade_count)" in sql and "symbol = VALUES" not in sql
    assert sql.count("%s") == len(candle_sink.COLUMNS)


@pytest.mark.parametrize(
    ("text", "count"),
    [("65000.12", 6_500_012_000_000), ("0.00000001", 1), ("3", 300_000_000), ("0.1", 10_000_000)],
)
def test_exact_units_round_trip(text: str, count: int) -> None:
    assert candle_sink.units(text) == count
    assert candle_sink.from_units(count) == Decimal(text)


@pytest.mark.parametrize("text", ["-1.0", "1.000000001", "1e5", "abc", ""])
def test_units_refuse_what_is_not_an_8_place_decimal(text: str) -> None:
    with pytest.raises(ValueError):
        candle_sink.units(text)


def test_the_plain_consumer_peers_fold_equals_the_reference_in_any_order() -> None:
    refs = [RefTrade.from_value(v) for _, v in dataset.encoded(dataset.DataSpec(count=3_000))]
    random.Random(5).shuffle(refs)
    folds: dict[tuple[str, int], Fold] = {}
    for t in refs:
        key = (t.symbol, t.trade_time_us // WINDOW_US * WINDOW_US)
        rank, price, qty = (t.trade_time_us, t.trade_id), Decimal(t.price), Decimal(t.quantity)
        if key in folds:
            folds[key].add(rank, price, qty)
        else:
            folds[key] = Fold(rank, price, qty)
    got = {k: Candle(f.open, f.high, f.low, f.close, f.volume, f.count) for k, f in folds.items()}
    assert got == reference_candles(refs)


@pytest.mark.parametrize("name", ["cryptopipe", "bench; DROP DATABASE cryptopipe", "Bench", ""])
def test_the_benchmark_never_drops_the_pipelines_database_or_an_odd_name(
    name: str, tmp_path: Path
) -> None:
    settings = StackSettings(state_dir=tmp_path, mysql_database="cryptopipe")
    with pytest.raises(ValueError, match="not a scratch database"):
        mariadb.drop_scratch_database(settings, name)
    with pytest.raises(ValueError, match="not a scratch database"):
        mariadb.create_scratch_database(settings, name)
    assert settings.mysql_database != DATABASE
