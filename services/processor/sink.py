"""The MySQL side of a micro-batch: read the processor's state, commit a batch atomically.

One transaction per batch holds the ledger row, the watermarks, the trade-id ranges, the late and
rejected rows and the candle upserts. If the ledger already has (query, batch), the batch was
applied before a crash and nothing is written again.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pymysql
import pymysql.cursors

from cryptopipe.db.connection import app_connection
from cryptopipe.processor import sql
from cryptopipe.processor.batch import BatchResult
from cryptopipe.processor.candles import us_to_datetime
from cryptopipe.processor.ranges import Range
from cryptopipe.processor.settings import ProcessorSettings

logger = logging.getLogger(__name__)

T = TypeVar("T")

_RETRYABLE = (pymysql.err.OperationalError, pymysql.err.InterfaceError)
ER_DUP_ENTRY = 1062


@dataclass(frozen=True, slots=True)
class StoredState:
    watermarks: dict[str, int]
    symbol_ranges: dict[str, list[Range]]


class MySqlSink:
    """A thin pymysql adapter; one connection, reconnected (with backoff) when it breaks."""

    def __init__(self, settings: ProcessorSettings) -> None:
        self._settings = settings
        self._conn: pymysql.connections.Connection[Any] | None = None

    def _connect(self) -> pymysql.connections.Connection[Any]:
        return app_connection(
            self._settings, connect_timeout_s=self._settings.mysql_connect_timeout_s
        )

    def _connection(self) -> pymysql.connections.Connection[Any]:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(pymysql.err.Error):
                self._conn.close()
            self._conn = None

    def _with_retry(self, what: str, fn: Callable[[pymysql.connections.Connection[Any]], T]) -> T:
        deadline = time.monotonic() + self._settings.mysql_retry_max_s
        delay = 0.2
        while True:
            try:
                return fn(self._connection())
            except _RETRYABLE as exc:
                self.close()
                if time.monotonic() + delay > deadline:
                    raise
                logger.warning("MySQL %s failed (%s); retrying in %.1fs", what, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    # -- reads ---------------------------------------------------------------------------
    def is_applied(self, query_id: str, batch_id: int) -> bool:
        def run(conn: pymysql.connections.Connection[Any]) -> bool:
            with conn.cursor() as cur:
                cur.execute(sql.SELECT_BATCH_APPLIED, (query_id, batch_id))
                found = cur.fetchone() is not None
            conn.rollback()
            return found

        return self._with_retry("ledger read", run)

    def load_state(self) -> StoredState:
        def run(conn: pymysql.connections.Connection[Any]) -> StoredState:
            with conn.cursor() as cur:
                cur.execute(sql.SELECT_WATERMARKS)
                marks = {str(sym): int(t) for sym, t in cur.fetchall()}
                cur.execute(sql.SELECT_RANGES)
                by_symbol: dict[str, list[Range]] = {}
                for sym, lo, hi in cur.fetchall():
                    by_symbol.setdefault(str(sym), []).append((int(lo), int(hi)))
            conn.rollback()
            return StoredState(marks, by_symbol)

        return self._with_retry("state read", run)

    # -- the one write -------------------------------------------------------------------
    def commit(self, result: BatchResult) -> bool:
        """Apply ``result`` atomically; False if the ledger says it was applied already."""

        def run(conn: pymysql.connections.Connection[Any]) -> bool:
            try:
                with conn.cursor() as cur:
                    self._write(cur, result)
                conn.commit()
                return True
            except pymysql.err.IntegrityError as exc:
                conn.rollback()
                if exc.args and exc.args[0] == ER_DUP_ENTRY and "PRIMARY" in str(exc.args[1]):
                    # the ledger insert comes first: a lost COMMIT acknowledgement that did commit
                    logger.info("batch %s already in the ledger; nothing written", result.batch_id)
                    return False
                raise
            except BaseException:
                with contextlib.suppress(pymysql.err.Error):
                    conn.rollback()
                raise

        return self._with_retry("batch commit", run)

    @staticmethod
    def _write(cur: pymysql.cursors.Cursor, r: BatchResult) -> None:
        c = r.counts
        cur.execute(
            sql.INSERT_BATCH,
            (
                r.query_id,
                r.batch_id,
                c.input_rows,
                c.accepted,
                c.duplicates,
                c.late,
                c.rejected,
                len(r.candles),
                r.max_trade_time_us,
            ),
        )
        if r.symbol_max_time_us:
            cur.executemany(sql.UPSERT_WATERMARKS, sorted(r.symbol_max_time_us.items()))
        for symbol, rs in sorted(r.symbol_ranges.items()):
            cur.execute(sql.DELETE_RANGES_OF_SYMBOL, (symbol,))
            cur.executemany(sql.INSERT_RANGES, [(symbol, lo, hi) for lo, hi in rs])
        if r.late:
            cur.executemany(
                sql.INSERT_LATE,
                [
                    (
                        t.symbol,
                        t.trade_id,
                        t.price,
                        t.quantity,
                        t.trade_time_us,
                        t.is_buyer_maker,
                        t.watermark_us,
                        t.topic,
                        t.partition,
                        t.offset,
                    )
                    for t in r.late
                ],
            )
        if r.rejected:
            cur.executemany(
                sql.INSERT_REJECTED,
                [
                    (x.topic, x.partition, x.offset, x.reason.value, x.detail[:500], x.raw)
                    for x in r.rejected
                ],
            )
        if r.candles:
            cur.executemany(
                sql.UPSERT_CANDLES,
                [
                    (
                        k.symbol,
                        k.bar_interval,
                        us_to_datetime(k.window_start_us),
                        us_to_datetime(k.window_end_us),
                        k.open,
                        k.high,
                        k.low,
                        k.close,
                        k.volume,
                        k.quote_volume,
                        k.trade_count,
                        k.taker_buy_volume,
                        k.first_trade_id,
                        k.last_trade_id,
                        k.open_trade_time_us,
                        k.close_trade_time_us,
                    )
                    for k in sorted(r.candles, key=lambda x: x.key)
                ],
            )
