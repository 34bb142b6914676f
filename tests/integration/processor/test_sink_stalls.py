"""A frozen MariaDB (SIGSTOP of the real server) during a batch commit: the read timeout turns
the hang into a counted stall, the retry finishes the batch, and the ledger row decides a
COMMIT whose outcome the client never learned, so nothing is applied twice."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql
import pytest

from cryptopipe.dlq import DlqReason
from cryptopipe.processor.batch import BatchCounts, BatchResult, RejectedRow
from cryptopipe.processor.candles import PartialCandle
from cryptopipe.processor.metrics import ProcessorMetrics
from cryptopipe.processor.settings import ProcessorSettings
from cryptopipe.processor.sink import Commit, MySqlSink
from tests.integration.processor.conftest import StackFixture, processor_settings, query
from tests.integration.processor.dataset import BASE_TIME_US
from tests.integration.processor.helpers import mariadb_pid, sample

pytestmark = [pytest.mark.mysql]

READ_TIMEOUT_S = 2.0
FREEZE_S = 7.0


@contextmanager
def frozen_for(pid: int, seconds: float) -> Iterator[threading.Timer]:
    """SIGSTOP ``pid`` now, SIGCONT after ``seconds`` (and on leaving, whatever happens)."""
    timer = threading.Timer(seconds, os.kill, (pid, signal.SIGCONT))
    os.kill(pid, signal.SIGSTOP)
    timer.start()
    try:
        yield timer
    finally:
        timer.cancel()
        os.kill(pid, signal.SIGCONT)


class FreezingSink(MySqlSink):
    """The real sink; the first attempt freezes the server just before its COMMIT is sent
    (``at="commit"``) or before the batch's statements (``at="write"``)."""

    def __init__(
        self, settings: ProcessorSettings, metrics: ProcessorMetrics, pid: int, at: str
    ) -> None:
        super().__init__(settings, metrics)
        self.pid, self.at = pid, at
        self.armed = True
        self.freezes: list[Any] = []

    def _freeze(self) -> None:
        if self.armed:
            self.armed = False
            cm = frozen_for(self.pid, FREEZE_S)
            cm.__enter__()
            self.freezes.append(cm)

    def _connect(self) -> pymysql.connections.Connection[Any]:
        conn = super()._connect()
        if self.at == "commit" and self.armed:
            real = conn.commit

            def commit() -> None:
                self._freeze()
                real()

            conn.commit = commit  # type: ignore[method-assign]
        return conn

    def _write(self, cur: Any, r: BatchResult) -> None:  # type: ignore[override]
        if self.at == "write":
            self._freeze()
        MySqlSink._write(cur, r)

    def thaw(self) -> None:
        for cm in self.freezes:
            cm.__exit__(None, None, None)


def a_batch(query_id: str, symbol: str) -> BatchResult:
    t0 = BASE_TIME_US + 3_600_000_000
    candle = PartialCandle(
        symbol=symbol,
        bar_interval="1s",
        window_start_us=t0,
        window_end_us=t0 + 1_000_000,
        open=Decimal("100.5"),
        high=Decimal("101"),
        low=Decimal("100"),
        close=Decimal("100.25"),
        volume=Decimal("3"),
        quote_volume=Decimal("301.5"),
        trade_count=3,
        taker_buy_volume=Decimal("1"),
        first_trade_id=1,
        last_trade_id=3,
        open_trade_time_us=t0,
        close_trade_time_us=t0 + 900_000,
    )
    rejected = RejectedRow(f"it.{symbol}", 0, 5, DlqReason.NOT_JSON, "x", b"{", 1)
    return BatchResult(
        query_id=query_id,
        batch_id=0,
        topic="t",
        counts=BatchCounts(input_rows=4, accepted=3, rejected=1),
        candles=[candle],
        symbol_max_time_us={symbol: t0 + 900_000},
        symbol_ranges={symbol: [(1, 3)]},
        rejected=[rejected],
    )


def commit_with_a_freeze(
    stack: StackFixture, tmp_path: Path, at: str
) -> tuple[Commit, str, str, ProcessorMetrics, float, float]:
    settings = processor_settings(
        stack,
        f"it.stall.{uuid.uuid4().hex[:8]}",
        tmp_path / "ckpt",
        mysql_read_timeout_s=READ_TIMEOUT_S,
        mysql_write_timeout_s=READ_TIMEOUT_S,
        mysql_connect_timeout_s=READ_TIMEOUT_S,
    )
    metrics = ProcessorMetrics()
    sink = FreezingSink(settings, metrics, mariadb_pid(stack), at)
    query_id, symbol = f"stall-{uuid.uuid4().hex[:8]}", f"S{uuid.uuid4().hex[:8].upper()}"
    seen: list[float] = []
    done = threading.Event()

    def watch() -> None:  # what a scrape of sink_pending_seconds would read meanwhile
        while not done.wait(0.2):
            seen.append(sink.pending_seconds())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.monotonic()
    try:
        outcome = sink.commit(a_batch(query_id, symbol))
    finally:
        done.set()
        sink.thaw()
        sink.close()
    took = time.monotonic() - started
    watcher.join(5)
    assert not sink.armed, "the freeze never happened"
    assert sink.pending_seconds() == 0.0  # idle again
    return outcome, query_id, symbol, metrics, took, max(seen, default=0.0)


def assert_applied_once(stack: StackFixture, query_id: str, symbol: str) -> None:
    ledger = query(stack, "SELECT COUNT(*) FROM processor_batches WHERE query_id = %s", (query_id,))
    assert int(ledger[0][0]) == 1
    candles = query(
        stack,
        "SELECT trade_count, volume, quote_volume FROM candles WHERE symbol = %s",
        (symbol,),
    )
    assert [(int(n), v, q) for n, v, q in candles] == [(3, Decimal("3"), Decimal("301.5"))]


def test_a_commit_whose_reply_is_lost_in_a_freeze_is_applied_once(
    stack: StackFixture, tmp_path: Path
) -> None:
    """The COMMIT reaches the frozen server's socket, the client's read times out: the outcome
    is unknown. When the server resumes it commits; the retry's ledger insert finds the row."""
    outcome, query_id, symbol, metrics, took, pending = commit_with_a_freeze(
        stack, tmp_path, "commit"
    )
    assert outcome is Commit.APPLIED_UNACKNOWLEDGED
    assert outcome.applied_by_this_call  # the job records its metrics: applied by this call
    assert_applied_once(stack, query_id, symbol)
    assert took >= FREEZE_S - 1  # it waited for the server, retrying
    assert pending >= READ_TIMEOUT_S  # the stall was visible while it lasted
    assert sample(metrics, "cryptopipe_processor_sink_stalls_total", operation="commit") == 1
    assert (
        sample(
            metrics, "cryptopipe_processor_sink_retries_total", operation="commit", reason="timeout"
        )
        >= 1
    )
    assert sample(metrics, "cryptopipe_processor_sink_failures_total", operation="commit") == 0


def test_a_commit_frozen_before_its_commit_is_rolled_back_and_applied_by_the_retry(
    stack: StackFixture, tmp_path: Path
) -> None:
    outcome, query_id, symbol, metrics, _took, pending = commit_with_a_freeze(
        stack, tmp_path, "write"
    )
    assert outcome is Commit.APPLIED
    assert_applied_once(stack, query_id, symbol)
    assert pending >= READ_TIMEOUT_S
    assert sample(metrics, "cryptopipe_processor_sink_stalls_total", operation="commit") == 1
    assert (
        sample(
            metrics, "cryptopipe_processor_sink_retries_total", operation="commit", reason="timeout"
        )
        >= 1
    )
