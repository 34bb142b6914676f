"""The served exchange (`cryptopipe exchange serve`, a real process with its own synthetic
market) and its HTTP fault controls, against a real producer and broker: each fault reaches
the producer, which recovers and puts every trade id on the topic exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cryptopipe.dlq import DlqReason
from cryptopipe.stack.process import wait_until
from tests.conftest import port_base
from tests.integration.producer.conftest import Topics
from tests.integration.producer.harness import RunningProducer, producer_thread, trade_ids

pytestmark = pytest.mark.kafka

SYMBOLS = ["FXAUSDT", "FXBUSDT"]
P = "cryptopipe_producer_"


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`cryptopipe exchange serve` at 200 trades/s; its base URL."""
    port = port_base() + 444
    log = tmp_path_factory.mktemp("exchange") / "exchange.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CRYPTOPIPE_")},
        "CRYPTOPIPE_EXCHANGE_PORT": str(port),
        "CRYPTOPIPE_EXCHANGE_SYMBOLS": ",".join(SYMBOLS),
        "CRYPTOPIPE_EXCHANGE_RATE": "200",
        "CRYPTOPIPE_EXCHANGE_PING_INTERVAL_S": "0.5",
    }
    argv = [sys.executable, "-m", "cryptopipe.cli", "exchange", "serve"]
    with Path(log).open("wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        try:
            return httpx.get(f"{url}/control/state", timeout=2).is_success
        except httpx.HTTPError:
            return False

    try:
        assert wait_until(serving, 60, interval_s=0.2), log.read_text()
        yield url
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0, log.read_text()


def control(url: str, path: str, **params: Any) -> dict[str, Any]:
    resp = httpx.post(f"{url}/control/{path}", params=params, timeout=10)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def state(url: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{url}/control/state", timeout=10).json()
    return body


def holes(topics: Topics) -> dict[str, int]:
    """Per symbol, how many ids are missing on the topic between its first and last."""
    counts = trade_ids(topics)
    out = {}
    for symbol in SYMBOLS:
        ids = {i for s, i in counts if s == symbol}
        if ids and len(ids) != max(ids) - min(ids) + 1:
            out[symbol] = max(ids) - min(ids) + 1 - len(ids)
    return out


def reconnects_after(producer: RunningProducer, url: str, since: float) -> None:
    """The producer holds a new, non-silent connection opened after ``since``."""

    def fresh() -> bool:
        return any(
            c["opened_at"] > since and not c["silent"] and c["streams"]
            for c in state(url)["connections"]
        )

    producer.wait_for(fresh, timeout_s=30)


def test_every_exchange_fault_reaches_the_producer_which_recovers_exactly_once(
    exchange: str, settings_factory: Any, topics: Topics
) -> None:
    settings = settings_factory(
        source="binance",
        symbols=",".join(SYMBOLS),
        binance_ws_url=exchange.replace("http://", "ws://"),
        binance_rest_url=exchange,
        resume=False,
        reconnect_initial_s=0.05,
        reconnect_max_s=0.5,
        ws_rotation_overlap_s=0.5,
        ws_ping_interval_s=0.5,
        ws_ping_timeout_s=1.0,
    )
    with producer_thread(settings) as producer:
        producer.wait_for(lambda: all(producer.accepted(s) >= 50 for s in SYMBOLS))

        # silent without closing: nothing, not even a pong, until the keep-alive gives up
        t = time.time()
        assert control(exchange, "silence", seconds=60)["silenced"] == 1
        reconnects_after(producer, exchange, t)
        assert producer.metric(P + "reconnects_total", reason="keepalive_timeout") >= 1

        # a 429 storm with Retry-After while the connection is aborted: the backfill waits
        control(exchange, "rest", status=429, seconds=3, retry_after_s=1)
        t = time.time()
        assert control(exchange, "disconnect", close_frame="false")["dropped"] >= 1
        reconnects_after(producer, exchange, t)

        # serverShutdown, the old connection closed a second later
        t = time.time()
        assert control(exchange, "server-shutdown", close_after_s=1)["told"] >= 1
        reconnects_after(producer, exchange, t)

        # garbage frames go to the DLQ, the connection keeps serving
        dlq = {"reason": DlqReason.NOT_JSON.value, "source": "binance"}
        before = producer.metric(P + "dlq_records_total", **dlq)
        control(exchange, "garbage", count=3)
        producer.wait_for(lambda: producer.metric(P + "dlq_records_total", **dlq) >= before + 3)
        seen = {s: producer.accepted(s) for s in SYMBOLS}
        producer.wait_for(lambda: all(producer.accepted(s) > seen[s] + 50 for s in SYMBOLS))
        # every gap the faults made gets filled from REST (the last backfill may still be
        # waiting out the storm's Retry-After), none given up
        producer.wait_for(lambda: not holes(topics), timeout_s=60)
        assert producer.metric(P + "trades_backfilled_total", symbol=SYMBOLS[0]) > 0
        assert all(
            producer.metric(P + "trades_unrecoverable_total", symbol=s) == 0 for s in SYMBOLS
        )
    rest = state(exchange)["rest"]
    assert rest["refused"] >= 1, "the 429 storm met the backfill"
    assert rest["violations"] == 0, "a REST request came back inside Retry-After"
    counts = trade_ids(topics)
    assert not {k: n for k, n in counts.items() if n > 1}, "duplicates on the topic"
    assert {s for s, _ in counts} == set(SYMBOLS)
    assert not holes(topics), holes(topics)


def test_a_control_with_a_bad_parameter_is_refused_and_changes_nothing(exchange: str) -> None:
    resp = httpx.post(f"{exchange}/control/silence", params={"seconds": "soon"}, timeout=10)
    assert resp.status_code == 400 and "seconds" in resp.json()["error"]
    resp = httpx.post(f"{exchange}/control/rest", params={"status": "500", "seconds": 1})
    assert resp.status_code == 400
    assert state(exchange)["rest"]["refusals"] == []
    assert control(exchange, "reset") == {"reset": True}
