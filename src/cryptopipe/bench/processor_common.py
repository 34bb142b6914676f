"""What the systems of `cryptopipe bench processor` share: the backlog they all read, how a
result is judged against the exact reference, reading a table's candles, progress lines."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptopipe.bench import guard
from cryptopipe.bench.context import BenchContext
from cryptopipe.bench.model import OURS, Stage, SystemResult
from cryptopipe.bench.reference import FIELDS, Candle, CandleKey, compare, stored_candle
from cryptopipe.stack import mariadb
from cryptopipe.stack.settings import StackSettings

logger = logging.getLogger(__name__)

STAGE: Stage = "processor"
DATABASE = "cryptopipe_bench_processor"
KAFKA_PEER = "confluent-kafka + pymysql"
QUIX_PEER = "Quix Streams"
NAIVE_PEER = "naive Spark"
KAFKA_TABLE, QUIX_TABLE, NAIVE_TABLE = "peer_kafka_candles", "peer_quix_candles", "naive_candles"
POLL_S = 0.2
PROGRESS_EVERY_S = 3.0
QUIET_PROGRESS_S = 15.0
MIN_WAIT_S = 300.0  # a system gets this long plus one second per WAIT_RATE trades
WAIT_RATE = 2_000.0

DESCRIPTIONS = {
    OURS: "our Spark job (cryptopipe process): 1 s trigger, 1s+1m candles, exactly-once upserts",
    KAFKA_PEER: "plain consumer, Decimal 1 m candles in Python, batched pymysql upserts",
    QUIX_PEER: "Quix Streams 3.28 tumbling 1 m windows (RocksDB state, changelog), MySQL upserts",
    NAIVE_PEER: "portfolio Spark job: first()/last() unordered, double casts, JDBC append",
}


@dataclass(slots=True)
class Backlog:
    """What every system of the stage shares: the topic, the reference, the database."""

    ctx: BenchContext
    topic: str
    trades: int
    expected: dict[CandleKey, Candle]
    workdir: Path
    db: StackSettings  # the stack's settings pointed at the benchmark's database
    groups: list[str] = field(default_factory=list)  # the peers' consumer groups

    def wait_s(self) -> float:
        return MIN_WAIT_S + self.trades / WAIT_RATE


def failed(system: str, error: str, notes: list[str] | None = None) -> SystemResult:
    return SystemResult.failed(STAGE, system, DESCRIPTIONS[system], error, notes)


def guarded(system: str, fn: Callable[[], SystemResult]) -> SystemResult:
    return guard.guarded(STAGE, system, DESCRIPTIONS[system], fn)


def judged(
    b: Backlog, system: str, seconds: float, rows: list[tuple[CandleKey, Candle]], **kw: Any
) -> SystemResult:
    """A system's result with its candles compared with the reference."""
    verdict = compare(b.expected, rows)
    notes = [f"candles vs the exact reference: {verdict.describe()}", *kw.pop("notes", [])]
    return SystemResult(
        stage=STAGE,
        system=system,
        description=DESCRIPTIONS[system],
        trades=b.trades,
        seconds=seconds,
        trades_per_s=b.trades / seconds if seconds > 0 else None,
        correct=verdict.ok,
        notes=notes,
        **kw,
    )


def query(db: StackSettings, sql: str) -> list[tuple[Any, ...]]:
    conn = mariadb.app_connection(db)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def stored_rows(db: StackSettings, table: str, where: str = "") -> list[tuple[CandleKey, Candle]]:
    """A table's candles (columns ``symbol, window_start`` and FIELDS) as (key, candle)."""
    from cryptopipe.processor.candles import datetime_to_us  # noqa: PLC0415

    rows = query(db, f"SELECT symbol, window_start, {', '.join(FIELDS)} FROM `{table}` {where}")
    return [
        ((str(r[0]), datetime_to_us(r[1])), stored_candle(dict(zip(FIELDS, r[2:], strict=True))))
        for r in rows
    ]


class Progress:
    """``ctx.progress`` while a system runs: every few seconds when its count moved, and
    at least every QUIET_PROGRESS_S (a JVM start-up shows as a count that does not move)."""

    def __init__(self, ctx: BenchContext, system: str, total: int) -> None:
        self._ctx, self._system, self._total = ctx, system, total
        self._started = self._last = time.monotonic()
        self._shown = 0

    def __call__(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        quiet = now - self._last
        if (
            force
            or (done != self._shown and quiet >= PROGRESS_EVERY_S)
            or quiet >= QUIET_PROGRESS_S
        ):
            self._last, self._shown = now, done
            self._ctx.progress(
                f"{self._system}: {done:,} of {self._total:,} trades committed "
                f"({now - self._started:.0f}s)"
            )
