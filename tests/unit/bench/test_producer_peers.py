"""The producer stage's pure parts: every system gets our trades and our client settings, the
kafka-python peer's report is parsed strictly, and a lost or duplicated trade is reported wrong."""

from __future__ import annotations

import json
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from cryptopipe.bench import dataset
from cryptopipe.bench import producer as stage
from cryptopipe.bench import producer_clients as clients
from cryptopipe.bench import producer_rounds as rnd
from cryptopipe.bench.context import BenchContext, Sizing
from cryptopipe.bench.peers import kafka_python_producer as peer
from cryptopipe.producer.normalize import normalize_frame
from cryptopipe.producer.settings import ProducerSettings
from cryptopipe.producer.sources.synthetic import synthetic_config
from cryptopipe.producer.synthetic import SyntheticMarket
from cryptopipe.producer.trade import Trade
from cryptopipe.stack.settings import StackSettings

SPEC = dataset.DataSpec(count=2_000, seed=11, rate=dataset.UNPACED)


@pytest.fixture
def stack(tmp_path: Path) -> StackSettings:
    return StackSettings(state_dir=tmp_path, kafka_port=41092)


@pytest.fixture
def settings(stack: StackSettings) -> ProducerSettings:
    return clients.producer_settings(stack, SPEC, "bench.producer.test")


# ours makes the stage's trades, against the stack -----------------------------------------
def test_our_producer_generates_exactly_the_data_sets_frames(settings: ProducerSettings) -> None:
    assert synthetic_config(settings) == SPEC.config()
    ours = [f[1:] for f in islice(SyntheticMarket(synthetic_config(settings)).frames(), SPEC.count)]
    assert ours == list(dataset.frames(SPEC))
    assert settings.count == SPEC.count


def test_our_producer_settings_point_at_the_stack_and_keep_the_product_defaults(
    stack: StackSettings, settings: ProducerSettings
) -> None:
    assert settings.kafka_bootstrap_servers == stack.bootstrap_servers() == "127.0.0.1:41092"
    assert settings.topic_trades == "bench.producer.test"
    assert settings.source == "synthetic"
    for name in ("kafka_linger_ms", "kafka_batch_bytes", "kafka_compression", "trace_sample_ratio"):
        assert getattr(settings, name) == ProducerSettings.model_fields[name].default, name


# kcat -------------------------------------------------------------------------------------
def test_kcat_gets_our_client_properties_as_strings(settings: ProducerSettings) -> None:
    props = clients.librdkafka_properties(settings, "bench-kcat")
    assert "logger" not in props
    assert props["client.id"] == "bench-kcat"
    assert props["bootstrap.servers"] == settings.kafka_bootstrap_servers
    assert props["acks"] == "all"
    assert props["enable.idempotence"] == "true"
    assert props["compression.type"] == settings.kafka_compression
    assert props["linger.ms"] == str(settings.kafka_linger_ms)
    assert props["batch.size"] == str(settings.kafka_batch_bytes)
    assert all(isinstance(v, str) for v in props.values())


def test_a_sasl_password_goes_into_kcats_config_file_not_its_arguments(tmp_path: Path) -> None:
    secret_stack = StackSettings(
        state_dir=tmp_path,
        kafka_port=41092,
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="u",
        kafka_sasl_password="hunter2",
    )
    settings = clients.producer_settings(secret_stack, SPEC, "t")
    assert clients.librdkafka_properties(settings, "k")["sasl.password"] == "hunter2"
    args = clients.kcat_args("/usr/bin/kcat", Path("/x/kcat.conf"), "t", Path("/x/in.txt"))
    assert not any("hunter2" in a for a in args)
    assert args[args.index("-F") + 1] == "/x/kcat.conf"


def test_kcat_splits_its_input_lines_where_we_joined_them() -> None:
    args = clients.kcat_args("/usr/bin/kcat", Path("c.conf"), "topic-a", Path("in.txt"))
    assert args[:2] == ["/usr/bin/kcat", "-P"]
    assert args[args.index("-t") + 1] == "topic-a"
    assert "-l" in args and args[-1] == "in.txt"  # one file, split into messages
    delimiter = args[args.index("-K") + 1].encode().decode("unicode_escape").encode()
    pairs = dataset.encoded(dataset.DataSpec(count=50))
    lines = list(clients.kcat_lines(pairs))
    assert [tuple(line.rstrip(b"\n").split(delimiter, 1)) for line in lines] == pairs
    assert all(line.count(b"\n") == 1 for line in lines)  # one message per line


# the kafka-python peer --------------------------------------------------------------------
def test_the_kafka_python_peer_accepts_our_arguments_and_gets_our_settings(
    settings: ProducerSettings,
) -> None:
    args = clients.kafka_python_args(
        Path("/peers/python"), Path("/peers/p.py"), settings, "t1", Path("/tmp/f.txt")
    )
    assert args[0] == "/peers/python" and "/peers/p.py" in args
    ns = peer.parse_args(args[args.index("/peers/p.py") + 1 :])
    assert (ns.bootstrap, ns.topic, ns.frames) == (
        settings.kafka_bootstrap_servers,
        "t1",
        "/tmp/f.txt",
    )
    assert ns.acks == "all" and ns.idempotence is True
    assert ns.compression == settings.kafka_compression
    assert ns.linger_ms == settings.kafka_linger_ms
    assert ns.batch_size == settings.kafka_batch_bytes
    assert ns.delivery_timeout_ms == settings.delivery_timeout_ms
    conf = peer.producer_config(ns, has_codec=True)
    assert conf["acks"] == "all" and conf["enable_idempotence"] is True
    assert conf["compression_type"] == "lz4"
    assert conf["bootstrap_servers"] == settings.kafka_bootstrap_servers.split(",")


def test_the_peer_sends_uncompressed_without_the_codecs_library_and_we_say_so(
    settings: ProducerSettings,
) -> None:
    ns = peer.parse_args(["--bootstrap", "b:1", "--topic", "t", "--frames", "f"])
    assert peer.producer_config(ns, has_codec=False)["compression_type"] is None
    effective = {
        "acks": -1,
        "enable_idempotence": True,
        "compression_type": None,
        "linger_ms": 20,
        "batch_size": 1,
    }
    report = clients.parse_peer_report(
        json.dumps(peer.report("kp", 1, 0, 1.0, 1.0, 0.5, effective))
    )
    notes = clients.kafka_python_differences(report, settings)
    assert len(notes) == 1 and "compression none, not lz4" in notes[0]
    same = clients.parse_peer_report(
        json.dumps(peer.report("kp", 1, 0, 1.0, 1.0, 0.5, {**effective, "compression_type": "lz4"}))
    )
    assert clients.kafka_python_differences(same, settings) == []


def test_the_peer_normalizes_frames_into_our_schemas_fields() -> None:
    for _, _, frame in dataset.frames(dataset.DataSpec(count=200)):
        now = dataset.START_TIME_US
        theirs = peer.normalize(frame, ingest_time_us=now)
        trade = normalize_frame(frame, symbols=None, ingest_time_us=now)
        assert isinstance(trade, Trade)
        ours = trade.to_dict()
        assert list(theirs) == list(ours)
        for key in ("price", "quantity"):  # verbatim (trailing zeros) but the same number
            assert Decimal(theirs[key]) == Decimal(str(ours[key]))
        rest = [k for k in ours if k not in ("price", "quantity")]
        assert {k: theirs[k] for k in rest} == {k: ours[k] for k in rest}


# the peer's report ------------------------------------------------------------------------
EFFECTIVE: dict[str, Any] = {
    "acks": -1,
    "enable_idempotence": True,
    "compression_type": "lz4",
    "linger_ms": 20,
    "batch_size": 1_000_000,
}


def _report(**changes: Any) -> dict[str, Any]:
    return {**peer.report("kafka-python 3.0.12", 500, 0, 2.5, 3.0, 2.0, EFFECTIVE), **changes}


def test_the_peers_report_line_is_found_among_other_output() -> None:
    stdout = "\n".join(
        ["starting", json.dumps({"not": "it"}) + " trailing", json.dumps(_report()), ""]
    )
    report = clients.parse_peer_report(stdout)
    assert report == clients.PeerReport(
        client="kafka-python 3.0.12",
        sent=500,
        failed=0,
        seconds=2.5,
        cpu_s=3.0,
        main_cpu_s=2.0,
        acks="-1",
        idempotence=True,
        compression="lz4",
        linger_ms=20,
        batch_size=1_000_000,
    )


@pytest.mark.parametrize(
    ("stdout", "why"),
    [
        ("", "no JSON report"),
        ("Traceback (most recent call last):\n  ...\nKeyError: 's'", "no JSON report"),
        (json.dumps({**_report(), "report": 2}), "report version 2"),
        (json.dumps({k: v for k, v in _report().items() if k != "sent"}), "unusable"),
        (json.dumps(_report(sent="500")), "unusable"),
        (json.dumps(_report(failed=True)), "unusable"),
        (json.dumps(_report(seconds=0)), "unusable"),
        (json.dumps(_report(seconds=None)), "unusable"),
    ],
)
def test_an_unusable_peer_report_is_an_error_that_says_why(stdout: str, why: str) -> None:
    with pytest.raises(clients.PeerError, match=why):
        clients.parse_peer_report(stdout)


# verdict and summary ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("on_topic", "failed", "correct"),
    [(1000, 0, True), (999, 0, False), (1001, 0, False), (1000, 1, False), (0, 0, False)],
)
def test_correct_means_every_trade_acknowledged_exactly_once(
    on_topic: int, failed: int, correct: bool
) -> None:
    assert rnd.acknowledged_once(1000, on_topic, failed) is correct


def _round(seconds: float, on_topic: int = 1000, main: float | None = 0.002) -> rnd.Round:
    return rnd.Round(1000, seconds, 0.003, main, 0, on_topic)


def test_the_summary_is_the_median_round_with_its_range_and_cpu_per_trade() -> None:
    result = rnd.summarize("x", "d", [_round(0.1), _round(0.05), _round(0.02)], ["n"])
    assert result.trades_per_s == pytest.approx(20_000)
    assert result.seconds == pytest.approx(0.05)
    assert result.correct is True and result.error is None and result.trades == 1000
    values = {f.name: f.value for f in result.figures}
    units = {f.name: f.unit for f in result.figures}
    assert values["median"] == pytest.approx(20_000)
    assert values["min"] == pytest.approx(10_000)
    assert values["max"] == pytest.approx(50_000)
    assert values[rnd.CPU_PROCESS] == pytest.approx(3.0)
    assert values[rnd.CPU_MAIN] == pytest.approx(2.0)
    assert values[rnd.CPU_CLIENT] == pytest.approx(1.0)
    assert units["median"] == units["min"] == units["max"] == "trades/s"
    assert units[rnd.CPU_PROCESS] == units[rnd.CPU_MAIN] == units[rnd.CPU_CLIENT] == "us/trade"
    assert result.notes == ["n"]


def test_one_lost_trade_in_any_round_makes_the_system_wrong() -> None:
    result = rnd.summarize("x", "d", [_round(0.1), _round(0.1, on_topic=999)], [])
    assert result.correct is False
    assert result.notes == ["round 2: 1,000 sent, 999 on the topic, 0 failures reported"]


def test_a_process_without_a_main_thread_figure_gets_only_its_total() -> None:
    result = rnd.summarize("kcat", "d", [_round(0.1, main=None)], [])
    assert {f.name for f in result.figures} == {
        "median",
        "min",
        "max",
        "rounds",
        rnd.CPU_PROCESS,
    }


def test_the_warm_up_is_a_fifth_of_a_round_at_most_100k() -> None:
    assert rnd.warmup_trades(Sizing.for_run(quick=True)) == 10_000
    assert rnd.warmup_trades(Sizing.for_run(quick=False)) == 100_000


def test_without_kcat_the_result_says_how_to_install_it(
    stack: StackSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shutil.which", lambda _name: None)
    ctx = BenchContext(stack, Sizing.for_run(quick=True), tmp_path, progress=lambda _m: None)
    result = stage.run_kcat(stage._Run(ctx, SPEC, tmp_path, []), [])
    assert result.system == stage.KCAT and not result.ok
    assert result.trades_per_s is None and result.error is not None
    assert "apt-get install kcat" in result.error


def test_every_system_gets_one_round_and_a_slow_peer_no_more_than_its_budget() -> None:
    fast, slow = _round(1.0), _round(rnd.PEER_BUDGET_S)
    assert rnd.more_rounds([], 3, budget_s=0.0)  # always at least one
    assert rnd.more_rounds([fast, fast], 3, rnd.PEER_BUDGET_S)
    assert not rnd.more_rounds([fast, fast, fast], 3, rnd.PEER_BUDGET_S)
    assert not rnd.more_rounds([slow], 3, rnd.PEER_BUDGET_S)
    assert rnd.more_rounds([slow, slow], 3, budget_s=None)  # ours: every round
    result = rnd.summarize("kafka-python", "d", [slow], [], wanted=3)
    rounds = result.figure("rounds")
    assert rounds is not None and rounds.value == 1
    assert result.notes == ["1 of 3 rounds: its rounds took 120 s, over a peer's 120 s budget"]
