"""The MySQL side of a micro-batch: read the processor's state, commit a batch atomically.

One transaction per batch holds the ledger row, the watermarks, the trade-id ranges, the late and
rejected rows and the candle upserts. If the ledger already has (query, batch), the batch was
applied before a crash and nothing is written again.

Every MySQL call has a connect, read and write timeout, so a frozen or unreachable server is a
*stall*: the attempt fails, the connection is dropped and the operation retried with backoff
for up to ``mysql_retry_max_s`` (counted and logged, ``sink_pending_seconds`` shows how long it
has been waiting). A COMMIT whose reply timed out has an unknown outcome; the retry's ledger
insert decides it: a duplicate ledger key means that COMMIT did commit (nothing is written
twice), otherwise the server rolled it back and the retry applies the batch.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

import pymysql
import pymysql.cursors

from cryptopipe.db.connection import app_connection
from cryptopipe.idranges import Range
from cryptopipe.processor import sql
from cryptopipe.processor.batch import BatchResult
from cryptopipe.processor.candles import us_to_datetime
from cryptopipe.processor.metrics import ProcessorMetrics
from cryptopipe.processor.settings import ProcessorSettings

logger = logging.getLogger(__name__)

T = TypeVar("T")

_RETRYABLE = (pymysql.err.OperationalError, pymysql.err.InterfaceError)
ER_DUP_ENTRY = 1062
_REASONS = {
    2003: "connect",
    2006: "connection_lost",
    2013: "connection_lost",
    1205: "lock_wait_timeout",
    1213: "deadlock",
}
BACKOFF_START_S = 0.2
BACKOFF_MAX_S = 5.0


class Commit(Enum):
    """What :meth:`MySqlSink.commit` did."""

    APPLIED = "applied"
    # an earlier attempt's COMMIT reply was lost (timeout, broken connection) but it did
    # commit: the retry found its ledger row. Applied once, by this call.
    APPLIED_UNACKNOWLEDGED = "applied_unacknowledged"
    # the ledger had the batch before this call (nothing written)
    ALREADY_APPLIED = "already_applied"

    @property
    def applied_by_this_call(self) -> bool:
        return self is not Commit.ALREADY_APPLIED


def failure_reason(exc: BaseException) -> str:
    """A low-cardinality label for a retried MySQL error."""
    if "timed out" in str(exc):
        return "timeout"
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    if code is None:
        return type(exc).__name__.lower()
    return _REASONS.get(code, f"mysql_{code}")


@dataclass(frozen=True, slots=True)
class StoredState:
    watermarks: dict[str, int]
    symbol_ranges: dict[str, list[Range]]


class MySqlSink:
    """A thin pymysql adapter; one connection, reconnected (with backoff) when it breaks."""

    def __init__(
        self, settings: ProcessorSettings, metrics: ProcessorMetrics | None = None
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._conn: pymysql.connections.Connection[Any] | None = None
        self._pending_since: float | None = None

    def _connect(self) -> pymysql.connections.Connection[Any]:
        s = self._settings
        return app_connection(
            s,
            connect_timeout_s=s.mysql_connect_timeout_s,
            read_timeout=s.mysql_read_timeout_s,
            write_timeout=s.mysql_write_timeout_s,
        )

    def pending_seconds(self) -> float:
        """How long the current operation (attempts and backoff) has run; 0 when idle."""
        since = self._pending_since
        return 0.0 if since is None else time.monotonic() - since

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
        """``fn(connection)`` until it succeeds, retrying connection-level errors and timeouts
        with backoff for up to ``mysql_retry_max_s``."""
        started = time.monotonic()
        self._pending_since = started
        deadline = started + self._settings.mysql_retry_max_s
        delay = BACKOFF_START_S
        attempt = 1
        m = self._metrics
        try:
            while True:
                try:
                    out = fn(self._connection())
                except _RETRYABLE as exc:
                    self.close()
                    reason = failure_reason(exc)
                    waited = time.monotonic() - started
                    if time.monotonic() + delay > deadline:
                        if m is not None:
                            m.sink_failures.labels(what).inc()
                        logger.error(
                            "MySQL %s gave up after %.1fs and %d attempts (%s): %s",
                            what,
                            waited,
                            attempt,
                            reason,
                            exc,
                        )
                        raise
                    if m is not None:
                        if attempt == 1:
                            m.sink_stalls.labels(what).inc()
                        m.sink_retries.labels(what, reason).inc()
                    logger.warning(
                        "MySQL %s stalled (%s, %.1fs so far, attempt %d): %s; retrying in %.1fs",
                        what,
                        reason,
                        waited,
                        attempt,
                        exc,
                        delay,
                    )
                    time.sleep(delay)
                    delay = min(delay * 2, BACKOFF_MAX_S)
                    attempt += 1
                    continue
                if attempt > 1:
                    logger.warning(
                        "MySQL %s recovered after %.1fs and %d attempts",
                        what,
                        time.monotonic() - started,
                        attempt,
                    )
                return out
        finally:
            self._pending_since = None

    # -- reads ---------------------------------------------------------------------------
    def is_applied(self, query_id: str, batch_id: int) -> bool:
        def run(conn: pymysql.connections.Connection[Any]) -> bool:
            with conn.cursor() as cur:
                cur.execute(sql.SELECT_BATCH_APPLIED, (query_id, batch_id))
                found = cur.fetchone() is not None
            conn.rollback()
            return found

        return self._with_retry("ledger_read", run)

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

        return self._with_retry("state_read", run)

    # -- the one write -------------------------------------------------------------------
    def commit(self, result: BatchResult) -> Commit:
        """Apply ``result`` atomically, exactly once: the ledger row, inserted first in the
        same transaction, decides whether it was applied already."""

        commit_sent = False  # by an earlier attempt, whose outcome is then unknown

        def run(conn: pymysql.connections.Connection[Any]) -> Commit:
            nonlocal commit_sent
            try:
                with conn.cursor() as cur:
                    if not self._insert_ledger_row(cur, result):
                        conn.rollback()
                        if not commit_sent:
                            logger.info(
                                "batch %s already in the ledger; nothing written", result.batch_id
                            )
                            return Commit.ALREADY_APPLIED
                        # an earlier attempt's COMMIT was sent, its reply lost: it did commit
                        logger.warning(
                            "batch %s: the COMMIT of an earlier attempt did commit (its reply "
                            "was lost); the ledger row keeps it from being applied twice",
                            result.batch_id,
                        )
                        return Commit.APPLIED_UNACKNOWLEDGED
                    self._write(cur, result)
                commit_sent = True
                conn.commit()
                return Commit.APPLIED
            except BaseException:
                with contextlib.suppress(pymysql.err.Error, OSError):
                    conn.rollback()
                raise

        return self._with_retry("commit", run)

    @staticmethod
    def _insert_ledger_row(cur: pymysql.cursors.Cursor, r: BatchResult) -> bool:
        """The batch's ledger row, the first write of its transaction; False if it is there
        already (applied before)."""
        c = r.counts
        try:
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
        except pymysql.err.IntegrityError as exc:
            if exc.args and exc.args[0] == ER_DUP_ENTRY:
                return False
            raise
        return True

    @staticmethod
    def _write(cur: pymysql.cursors.Cursor, r: BatchResult) -> None:
        """Everything of the batch but its ledger row."""
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
                    (x.topic, x.partition, x.offset, x.reason.value, x.stored_detail(), x.raw)
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
