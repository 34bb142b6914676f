"""Freshness from the first scrape after a restart (issue 17, item 5).

A real `cryptopipe process` commits trades and stops; a new one starts on the same checkpoint
with nothing new to read, so it commits no batch at all. Its very first /metrics answer must
already hold ``freshness_seconds{symbol}`` (growing) and
``last_committed_trade_timestamp_seconds{symbol}``, read from MySQL at start, and if MySQL cannot
be reached at start, the metrics are served anyway and freshness appears once it can.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.processor.conftest import (
    StackFixture,
    create_topics,
    produce,
    query,
    truncate_state,
)
from tests.integration.processor.dataset import make_trades, send_order
from tests.integration.processor.helpers import (
    committed_batches,
    scrape,
    start_processor,
)

pytestmark = [pytest.mark.kafka, pytest.mark.mysql, pytest.mark.spark, pytest.mark.e2e]

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
P = "cryptopipe_processor_"


def values(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


def freshness(v: dict[str, float], symbol: str) -> float | None:
    return v.get(f'{P}freshness_seconds{{symbol="{symbol}"}}')


def first_scrape(port: int, proc: subprocess.Popen[bytes], log: Path) -> tuple[str, float]:
    """The first /metrics answer of ``proc`` (polled every 20 ms), and when it came."""
    started = time.monotonic()
    while True:
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() - started < 180, log.read_text()[-3000:]
        try:
            return scrape(port), time.monotonic() - started
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.02)


def stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(120) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


class LateMySql:
    """A TCP port that refuses connections until :meth:`open`, then forwards to MySQL."""

    def __init__(self, target_port: int) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._target = target_port
        self._server: socket.socket | None = None
        self._stop = threading.Event()

    def open(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        server.settimeout(0.2)
        self._server = server
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target), timeout=5)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.close()


@pytest.fixture
def late_mysql(stack: StackFixture) -> Iterator[LateMySql]:
    proxy = LateMySql(stack.settings.mysql_port)
    yield proxy
    proxy.close()


def test_freshness_is_there_from_the_first_scrape_of_a_restarted_processor(
    stack: StackFixture, tmp_path: Path, late_mysql: LateMySql, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = f"it.fresh.{uuid.uuid4().hex[:8]}"
    create_topics(stack, [topic, f"{topic}.dlq"])
    now_us = time.time_ns() // 1000
    trades = make_trades(SYMBOLS, per_symbol=500, span_s=60, seed=17, start_us=now_us - 120_000_000)
    newest = {sym: max(t.trade_time_us for t in trades if t.symbol == sym) for sym in SYMBOLS}
    produce(stack, topic, [(t.symbol.encode(), t.value()) for t in send_order(trades, seed=18)])
    truncate_state(stack)
    port = stack.settings.processor_metrics_port
    checkpoint, log = tmp_path / "ckpt", tmp_path / "process.log"

    # 1) a processor commits every trade, then stops
    first = start_processor(stack, topic, checkpoint, log, "--available-now")
    assert first.wait(300) == 0, log.read_text()[-3000:]
    assert int(query(stack, "SELECT SUM(accepted_rows) FROM processor_batches")[0][0]) == len(
        trades
    )
    batches = committed_batches(stack)

    # 2) a new one on the same checkpoint: nothing new to read, so no batch ever commits
    second = start_processor(stack, topic, checkpoint, log)
    try:
        text, after_s = first_scrape(port, second, log)
        v = values(text)
        time.sleep(1.5)
        later = values(scrape(port))
        assert committed_batches(stack) == batches, "the new process committed no batch"
    finally:
        stop(second, log)
    print(f"\nfirst scrape {after_s:.2f} s after the restart, load {os.getloadavg()}")
    for sym in SYMBOLS:
        assert (
            v[f'{P}last_committed_trade_timestamp_seconds{{symbol="{sym}"}}'] == newest[sym] / 1e6
        )
        fresh = freshness(v, sym)
        assert fresh is not None, f"freshness of {sym} missing from the first scrape"
        assert fresh >= 60.0, "it is the age of what was committed, not of the restart"
        grown = freshness(later, sym)
        assert grown is not None and grown - fresh >= 1.0, "and it keeps growing"

    # 3) MySQL unreachable at start: metrics are served at once, freshness once MySQL answers
    with monkeypatch.context() as m:
        env = stack.env()
        m.setattr(stack, "env", lambda: {**env, "CRYPTOPIPE_MYSQL_PORT": str(late_mysql.port)})
        third = start_processor(stack, topic, checkpoint, log)
    try:
        text, after_s = first_scrape(port, third, log)
        assert freshness(values(text), SYMBOLS[0]) is None, "MySQL was not reachable"
        late_mysql.open()
        opened = time.monotonic()
        while freshness(values(scrape(port)), SYMBOLS[0]) is None:
            assert time.monotonic() - opened < 90, log.read_text()[-3000:]
            time.sleep(0.5)
        restored_after_s = time.monotonic() - opened
    finally:
        stop(third, log)
    assert "cannot read the newest committed trade times from MySQL" in log.read_text()
    assert committed_batches(stack) == batches
    print(
        f"MySQL unreachable at start: first scrape after {after_s:.2f} s, freshness "
        f"{restored_after_s:.1f} s after MySQL opened"
    )
