"""--source binance against the local Binance emulator and the real broker: every trade id on
the topic exactly once, whatever happens to the connection."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from cryptopipe.dlq import DlqReason
from cryptopipe.exchange import BinanceEmulator
from tests.integration.producer.conftest import StackFixture, Topics
from tests.integration.producer.harness import (
    RunningProducer,
    assert_exactly_once,
    producer_thread,
)

pytestmark = pytest.mark.kafka

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
P = "cryptopipe_producer_"


@pytest.fixture
def emulator() -> Iterator[BinanceEmulator]:
    with BinanceEmulator(SYMBOLS, ping_interval_s=0.5) as emu:
        yield emu


@pytest.fixture
def binance_settings(settings_factory: Any, emulator: BinanceEmulator) -> Any:
    def build(**kwargs: Any) -> Any:
        defaults: dict[str, Any] = {
            "source": "binance",
            "symbols": ",".join(SYMBOLS),
            "binance_ws_url": emulator.ws_url,
            "binance_rest_url": emulator.rest_url,
            "reconnect_initial_s": 0.05,
            "reconnect_max_s": 0.5,
            "ws_rotation_overlap_s": 0.5,
        }
        defaults.update(kwargs)
        return settings_factory(**defaults)

    return build


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return ""


def connected(emu: BinanceEmulator, n: int = 1) -> None:
    emu.wait_until(lambda: emu.open_connections() == n and len(emu.subscribed_streams()) > 0)


def wait_accepted(producer: RunningProducer, symbol: str, n: int) -> None:
    producer.wait_for(lambda: producer.accepted(symbol) >= n)


def test_live_trades_are_produced_once_with_pings_answered(
    binance_settings: Any, emulator: BinanceEmulator, topics: Topics
) -> None:
    with producer_thread(binance_settings()) as producer:
        connected(emulator)
        btc = emulator.publish("BTCUSDT", 40)
        eth = emulator.publish("ETHUSDT", 25)
        wait_accepted(producer, "BTCUSDT", 40)
        wait_accepted(producer, "ETHUSDT", 25)
        emulator.wait_until(lambda: emulator.pongs_ok >= 2)
    assert emulator.pongs_bad == 0
    assert emulator.rate_violations == 0
    assert_exactly_once(topics, {"BTCUSDT": btc, "ETHUSDT": eth})
    record = topics.read(topics.trades)[0]
    assert record.key in (b"BTCUSDT", b"ETHUSDT")
    trade = record.json()
    assert set(trade) == {
        "v",
        "exchange",
        "symbol",
        "trade_id",
        "price",
        "quantity",
        "trade_time_us",
        "event_time_us",
        "ingest_time_us",
        "is_buyer_maker",
    }


@pytest.mark.parametrize("how", ["close_frame", "no_close_frame", "server_shutdown"])
def test_trades_missed_while_disconnected_are_backfilled_exactly_once(
    binance_settings: Any, emulator: BinanceEmulator, topics: Topics, how: str
) -> None:
    max_open = [0]

    def watch_open() -> int:
        max_open[0] = max(max_open[0], emulator.open_connections())
        return max_open[0]

    with producer_thread(binance_settings()) as producer:
        connected(emulator)
        btc = emulator.publish("BTCUSDT", 10)
        eth = emulator.publish("ETHUSDT", 3)
        wait_accepted(producer, "BTCUSDT", 10)
        if how == "server_shutdown":
            emulator.server_shutdown()
            emulator.wait_until(lambda: watch_open() >= 2)
        else:
            emulator.disconnect_all(close_frame=how == "close_frame")
        # trades happen while the producer is away: only REST will ever show them
        btc += emulator.publish("BTCUSDT", 30, deliver=False)
        eth += emulator.publish("ETHUSDT", 5, deliver=False)
        emulator.wait_until(lambda: emulator.connection_attempts >= 2)
        connected(emulator)
        btc += emulator.publish("BTCUSDT", 10)
        eth += emulator.publish("ETHUSDT", 2)
        wait_accepted(producer, "BTCUSDT", 50)
        wait_accepted(producer, "ETHUSDT", 10)
    reason = {"close_frame": "closed", "no_close_frame": "dropped"}.get(how, how)
    assert producer.metric(P + "reconnects_total", reason=reason) >= 1
    if how == "server_shutdown":  # the new connection opened before the old one closed
        assert max_open[0] >= 2
    assert producer.metric(P + "trades_backfilled_total", symbol="BTCUSDT") == 30
    assert producer.metric(P + "trades_backfilled_total", symbol="ETHUSDT") == 5
    assert_exactly_once(topics, {"BTCUSDT": btc, "ETHUSDT": eth})


def test_gap_in_a_live_stream_is_detected_and_backfilled_despite_429(
    binance_settings: Any, emulator: BinanceEmulator, topics: Topics
) -> None:
    with producer_thread(binance_settings()) as producer:
        connected(emulator)
        ids = emulator.publish("BTCUSDT", 10)
        wait_accepted(producer, "BTCUSDT", 10)
        emulator.fail_next_rest(2, retry_after_s=1.0)
        ids += emulator.publish("BTCUSDT", 1500, deliver=False)  # two REST pages
        ids += emulator.publish("BTCUSDT", 5)
        wait_accepted(producer, "BTCUSDT", 1515)
    assert producer.metric(P + "gaps_detected_total", symbol="BTCUSDT") == 1
    assert producer.metric(P + "gap_trades_total", symbol="BTCUSDT") == 1500
    assert producer.metric(P + "trades_backfilled_total", symbol="BTCUSDT") == 1500
    assert (
        producer.metric(P + "rest_requests_total", endpoint="historicalTrades", status="429") == 2
    )
    assert emulator.rest_violations == 0, "a request went out inside the Retry-After window"
    assert_exactly_once(topics, {"BTCUSDT": ids})


def test_microsecond_feed(binance_settings: Any, emulator: BinanceEmulator, topics: Topics) -> None:
    with producer_thread(binance_settings(ws_time_unit="us")) as producer:
        connected(emulator)
        emulator.publish("ETHUSDT", 5)
        wait_accepted(producer, "ETHUSDT", 5)
    by_id = {t.trade_id: t for t in emulator.history["ETHUSDT"]}
    for record in topics.read(topics.trades, expect=5):
        trade = record.json()
        assert trade["trade_time_us"] == by_id[trade["trade_id"]].time_us


def test_bad_frames_go_to_the_dlq_and_the_stream_goes_on(
    binance_settings: Any, emulator: BinanceEmulator, topics: Topics
) -> None:
    good = {
        "e": "trade",
        "E": int(time.time() * 1000),
        "s": "BTCUSDT",
        "t": 5,
        "p": "1.0",
        "q": "2.0",
        "T": int(time.time() * 1000),
        "m": False,
    }
    bad = {
        "{oops": DlqReason.NOT_JSON,
        "[1, 2]": DlqReason.NOT_AN_OBJECT,
        orjson.dumps({**good, "e": "aggTrade"}).decode(): DlqReason.UNSUPPORTED_EVENT,
        orjson.dumps({**good, "p": "1e5"}).decode(): DlqReason.BAD_DECIMAL,
        orjson.dumps({**good, "p": "-3"}).decode(): DlqReason.NON_POSITIVE,
        orjson.dumps({**good, "q": "0"}).decode(): DlqReason.NON_POSITIVE,
        orjson.dumps({**good, "s": "DOGEUSDT"}).decode(): DlqReason.UNKNOWN_SYMBOL,
        orjson.dumps({k: v for k, v in good.items() if k != "t"}).decode(): DlqReason.MISSING_FIELD,
        orjson.dumps({**good, "t": "5"}).decode(): DlqReason.WRONG_TYPE,
        orjson.dumps({**good, "T": 12}).decode(): DlqReason.BAD_TIME,
        orjson.dumps({**good, "pad": "x" * 40_000}).decode(): DlqReason.OVERSIZED,
    }
    with producer_thread(binance_settings()) as producer:
        connected(emulator)
        for frame in bad:
            emulator.send_raw(frame)
        ids = emulator.publish("BTCUSDT", 3)
        wait_accepted(producer, "BTCUSDT", 3)
        producer.wait_for(
            lambda: (
                sum(
                    producer.metric(P + "dlq_records_total", reason=r.value, source="binance")
                    for r in set(bad.values())
                )
                == len(bad)
            )
        )
        emulator.send_raw("x" * (5 * 1024 * 1024))  # over the client's 4 MiB message limit
        producer.wait_for(
            lambda: producer.metric(P + "reconnects_total", reason="message_too_big") == 1
        )
        connected(emulator)
        ids += emulator.publish("BTCUSDT", 2)
        wait_accepted(producer, "BTCUSDT", 5)
    dlq = topics.read(topics.dlq, expect=len(bad) + 1)
    assert dlq[-1].value == b""
    assert dlq[-1].headers["dlq.reason"] == "oversized"
    dlq = dlq[:-1]
    got = {r.value.decode(): r.headers["dlq.reason"] for r in dlq}
    assert got == {frame: reason.value for frame, reason in bad.items()}
    assert all(r.headers["dlq.source"] == "producer:binance" for r in dlq)
    assert_exactly_once(topics, {"BTCUSDT": ids})


def test_unknown_symbol_is_a_clear_startup_error(
    stack: StackFixture, emulator: BinanceEmulator, topics: Topics
) -> None:
    env = stack.env() | {
        "CRYPTOPIPE_TOPIC_TRADES": topics.trades,
        "CRYPTOPIPE_TOPIC_DLQ": topics.dlq,
        "CRYPTOPIPE_BINANCE_WS_URL": emulator.ws_url,
        "CRYPTOPIPE_BINANCE_REST_URL": emulator.rest_url,
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cryptopipe.cli",
            "produce",
            "--source",
            "binance",
            "--symbols",
            "btcusdt,nosuchcoin",
            "--metrics-port",
            "0",
        ],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr.decode()
    assert b"NOSUCHCOIN" in proc.stderr or b"Invalid symbol" in proc.stderr
    assert emulator.connection_attempts == 0


def test_streams_split_over_connections_and_rotated_with_overlap(
    binance_settings: Any, emulator: BinanceEmulator, topics: Topics
) -> None:
    settings = binance_settings(
        ws_max_streams_per_connection=1, ws_connection_max_age_s=1.5, ws_rotation_overlap_s=0.3
    )
    btc: list[int] = []
    with producer_thread(settings) as producer:
        connected(emulator, 2)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            btc += emulator.publish("BTCUSDT", 5)
            time.sleep(0.02)
        eth = emulator.publish("ETHUSDT", 5)
        producer.wait_for(lambda: producer.metric(P + "reconnects_total", reason="rotation") >= 4)
        wait_accepted(producer, "BTCUSDT", len(btc))
        wait_accepted(producer, "ETHUSDT", 5)
    assert emulator.rate_violations == 0
    assert_exactly_once(topics, {"BTCUSDT": btc, "ETHUSDT": eth})


def test_more_than_1024_streams_use_two_connections_and_paced_subscribe(
    settings_factory: Any, topics: Topics
) -> None:
    symbols = [f"S{i:04d}USDT" for i in range(1100)]
    with BinanceEmulator(symbols) as emu:
        settings = settings_factory(
            source="binance",
            symbols=",".join(symbols),
            binance_ws_url=emu.ws_url,
            binance_rest_url=emu.rest_url,
            ws_control_messages_per_s=2,
        )
        with producer_thread(settings) as producer:
            emu.wait_until(lambda: len(emu.subscribed_streams()) == 1100, timeout_s=30)
            assert emu.open_connections() == 2
            ids = {s: emu.publish(s, 2) for s in ("S0000USDT", "S1000USDT", "S1099USDT")}
            for symbol in ids:
                wait_accepted(producer, symbol, 2)
        subscribes = [m for m in emu.control_messages if m.get("method") == "SUBSCRIBE"]
        assert subscribes, "the first connection's URL cannot hold 1024 streams"
        assert all(len(m["params"]) <= 200 for m in subscribes)
        assert emu.rate_violations == 0
        assert len({c for _, q in emu.rest_calls for c in [q.get("symbols", "")]}) == 11
    assert_exactly_once(topics, ids)


def test_cli_binance_sigterm_flushes_and_exits_zero(
    stack: StackFixture, emulator: BinanceEmulator, topics: Topics
) -> None:
    port = stack.settings.producer_metrics_port
    env = stack.env() | {
        "CRYPTOPIPE_TOPIC_TRADES": topics.trades,
        "CRYPTOPIPE_TOPIC_DLQ": topics.dlq,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cryptopipe.cli", "produce", "--source", "binance",
         "--symbols", "btcusdt,ethusdt", "--ws-url", emulator.ws_url,
         "--rest-url", emulator.rest_url, "--metrics-port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        connected(emulator)
        ids = emulator.publish("BTCUSDT", 200)
        accepted = 'cryptopipe_producer_trades_accepted_total{symbol="BTCUSDT"} 200.0'
        emulator.wait_until(lambda: accepted in scrape(port))
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr.decode()
    assert_exactly_once(topics, {"BTCUSDT": ids})


def test_restart_backfills_what_was_missed_while_stopped(
    binance_settings: Any, emulator: BinanceEmulator, topics: Topics
) -> None:
    settings = binance_settings()
    with producer_thread(settings) as first:
        connected(emulator)
        btc = emulator.publish("BTCUSDT", 10)
        eth = emulator.publish("ETHUSDT", 4)
        wait_accepted(first, "BTCUSDT", 10)
        wait_accepted(first, "ETHUSDT", 4)
    emulator.wait_until(lambda: emulator.open_connections() == 0)
    btc += emulator.publish("BTCUSDT", 25, deliver=False)  # while the producer is stopped
    eth += emulator.publish("ETHUSDT", 3, deliver=False)
    with producer_thread(settings) as second:
        connected(emulator)
        btc += emulator.publish("BTCUSDT", 5)
        wait_accepted(second, "BTCUSDT", 30)  # 25 backfilled + 5 live
        wait_accepted(second, "ETHUSDT", 3)  # quiet symbol: caught up from REST
    assert second.metric(P + "trades_backfilled_total", symbol="BTCUSDT") == 25
    assert second.metric(P + "trades_backfilled_total", symbol="ETHUSDT") == 3
    assert_exactly_once(topics, {"BTCUSDT": btc, "ETHUSDT": eth})


def test_flapping_connections_stay_under_the_connection_attempt_limit(
    binance_settings: Any, emulator: BinanceEmulator, topics: Topics
) -> None:
    settings = binance_settings(reconnect_max_per_5min=3, reconnect_initial_s=0.01)
    with producer_thread(settings) as producer:
        for attempts in (1, 2, 3):
            emulator.wait_until(lambda n=attempts: emulator.connection_attempts == n)
            connected(emulator)
            emulator.disconnect_all(close_frame=False)
        time.sleep(1.5)  # a 4th attempt would break the 3-per-5-minutes budget
        assert emulator.connection_attempts == 3
        assert producer.error is None
        assert producer.metric(P + "reconnects_total", reason="dropped") == 3
