"""The audit's adapters: read the trades topic (from given offsets), the candle rows, late
trades and rejections from MySQL."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from cryptopipe.audit.core import MICROS
from cryptopipe.audit.windows import CandleRow
from cryptopipe.config import CommonSettings
from cryptopipe.db.connection import app_connection
from cryptopipe.dlq import parse_headers
from cryptopipe.processor.dlq_publisher import HEADER_ORIGIN

logger = logging.getLogger(__name__)


def read_to_end(
    settings: CommonSettings,
    topic_name: str,
    on_message: Callable[[Any], None],
    *,
    timeout_s: float = 300.0,
    after_batch: Callable[[], None] | None = None,
    start: Callable[[int, int, int], int] | None = None,
) -> dict[int, tuple[int, int]]:
    """Give every message of ``topic_name``, from each partition's start (``start(partition,
    low, high)``: the offset to begin at; default its low watermark) to its end as of now, to
    ``on_message`` (``after_batch`` runs after each consumed batch). Returns every partition's
    (low, high) watermarks as read before."""
    from confluent_kafka import Consumer, TopicPartition  # noqa: PLC0415

    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"cryptopipe-audit-{time.time_ns()}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            "auto.offset.reset": "earliest",
            "fetch.max.bytes": 64 * 1024 * 1024,
        }
    )
    ranges: dict[int, tuple[int, int]] = {}
    try:
        meta = consumer.list_topics(topic_name, timeout=30)
        topic = meta.topics.get(topic_name)
        if topic is None or topic.error is not None:
            raise RuntimeError(f"topic {topic_name} not found on the cluster")
        ends: dict[int, int] = {}
        assignment = []
        for pid in topic.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic_name, pid), timeout=30)
            ranges[pid] = (low, high)
            first = max(low, start(pid, low, high)) if start else low
            if high > first:
                ends[pid] = high
                assignment.append(TopicPartition(topic_name, pid, first))
        consumer.assign(assignment)
        deadline = time.monotonic() + timeout_s
        while ends:
            if time.monotonic() > deadline:
                raise TimeoutError(f"scanning {topic_name} took over {timeout_s:.0f}s")
            for msg in consumer.consume(num_messages=10_000, timeout=1.0):
                if msg.error():
                    logger.warning("consume error: %s", msg.error())
                    continue
                pid, offset = msg.partition(), msg.offset()
                if pid is None or offset is None or pid not in ends or offset >= ends[pid]:
                    continue
                if offset + 1 >= ends[pid]:
                    del ends[pid]
                on_message(msg)
            if after_batch:
                after_batch()
    finally:
        consumer.close()
    return ranges


def read_offsets(
    settings: CommonSettings, topic_name: str, keys: Collection[tuple[int, int]]
) -> dict[tuple[int, int], bytes | None]:
    """The values of the messages at (partition, offset) ``keys`` (one fetch each: for the few
    messages an incremental audit needs to look at again)."""
    from confluent_kafka import Consumer, TopicPartition  # noqa: PLC0415

    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"cryptopipe-audit-{time.time_ns()}",
            "enable.auto.commit": False,
        }
    )
    out: dict[tuple[int, int], bytes | None] = {}
    try:
        for pid, offset in sorted(keys):
            consumer.assign([TopicPartition(topic_name, pid, offset)])
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                msg = consumer.poll(1.0)
                if msg is None or msg.error():
                    continue
                if msg.partition() == pid and msg.offset() == offset:
                    out[(pid, offset)] = msg.value()
                break
    finally:
        consumer.close()
    return out


def dlq_origins(
    settings: CommonSettings, timeout_s: float = 300.0, start: Mapping[int, int] | None = None
) -> tuple[set[tuple[int, int]], dict[int, tuple[int, int]]] | None:
    """The (partition, offset) on the trades topic of every record the processor put on the
    DLQ topic (header ``dlq.origin`` = ``topic/partition/offset``) from offsets ``start`` on,
    and the DLQ's watermarks; None without a DLQ topic."""
    prefix = settings.topic_trades + "/"
    out: set[tuple[int, int]] = set()
    begin = dict(start or {})

    def on_message(msg: Any) -> None:
        origin = parse_headers(msg.headers()).get(HEADER_ORIGIN, "")
        if origin.startswith(prefix):
            pid, _, offset = origin[len(prefix) :].partition("/")
            if pid.isdigit() and offset.isdigit():
                out.add((int(pid), int(offset)))

    try:
        ends = read_to_end(
            settings,
            settings.topic_dlq,
            on_message,
            timeout_s=timeout_s,
            start=lambda pid, low, _high: begin.get(pid, low),
        )
    except RuntimeError as exc:  # no DLQ topic: nothing to compare with
        logger.warning("DLQ not read: %s", exc)
        return None
    return out, ends


def recorded_rejections(settings: CommonSettings) -> dict[tuple[int, int], str]:
    """The processor's rejected_trades rows of the trades topic: (partition, offset) -> reason."""
    conn = app_connection(settings, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT kafka_partition, kafka_offset, reason FROM rejected_trades"
                " WHERE topic = %s",
                (settings.topic_trades,),
            )
            return {(int(p), int(o)): str(r) for p, o, r in cur.fetchall()}
    finally:
        conn.close()


def _us_to_dt_sql(time_us: int) -> str:
    time_us = max(time_us, 0)  # no window starts before the epoch
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time_us // MICROS)) + (
        f".{time_us % MICROS:06d}"
    )


def candle_intervals(settings: CommonSettings) -> list[str]:
    conn = app_connection(settings, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT DISTINCT bar_interval FROM candles")
            return sorted(str(r[0]) for r in cur.fetchall())
    finally:
        conn.close()


# window_start as epoch microseconds, whatever the session's time zone
_START_US = "TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', window_start)"


@dataclass(frozen=True, slots=True)
class CandleQuery:
    """Which candle rows of one interval to read: window starts in [since_us, until_us), and
    of those (when ``changed_since`` is set) only rows updated since then or starting at or
    after ``open_from_us`` (windows that may still change)."""

    interval: str
    since_us: int | None = None
    until_us: int | None = None
    changed_since: Any = None  # a MySQL DATETIME(6) value
    open_from_us: int | None = None


def db_now(settings: CommonSettings) -> Any:
    """MySQL's clock (the candles' updated_at is set by it)."""
    conn = app_connection(settings, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT NOW(6)")
            row: Any = cur.fetchone()
            return row[0]
    finally:
        conn.close()


def candle_rows(
    settings: CommonSettings,
    q: CandleQuery,
    symbols: set[str] | None,
    keys: Collection[tuple[str, int]] = (),
) -> dict[str, dict[int, CandleRow]]:
    """symbol -> window start -> row for the rows ``q`` selects, and the rows of the windows
    ``keys`` ((symbol, window start)) whatever their updated_at."""
    where, args = ["bar_interval = %s"], [q.interval]
    if q.since_us is not None:
        where.append("window_start >= %s")
        args.append(_us_to_dt_sql(q.since_us))
    if q.until_us is not None:
        where.append("window_start < %s")
        args.append(_us_to_dt_sql(q.until_us))
    if q.changed_since is not None:
        where.append("(updated_at >= %s OR window_start >= %s)")
        args += [q.changed_since, _us_to_dt_sql(q.open_from_us or 0)]
    select = f"SELECT symbol, {_START_US}, trade_count, first_trade_id, last_trade_id FROM candles"
    out: dict[str, dict[int, CandleRow]] = defaultdict(dict)
    conn = app_connection(settings, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"{select} WHERE {' AND '.join(where)}", args)
            rows: list[Any] = list(cur.fetchall())
            wanted = sorted(keys)
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                cur.execute(
                    f"{select} WHERE bar_interval = %s AND (symbol, window_start) IN ("
                    + ", ".join(["(%s, %s)"] * len(chunk))
                    + ")",
                    [q.interval, *(v for s, t in chunk for v in (s, _us_to_dt_sql(t)))],
                )
                rows += list(cur.fetchall())
    finally:
        conn.close()
    for symbol, start, count, first, last in rows:
        if symbols and str(symbol) not in symbols:
            continue
        out[str(symbol)][int(start)] = CandleRow(int(count), int(first), int(last))
    return out


def candle_sums(
    settings: CommonSettings, interval: str, lows: Mapping[str, int], until_us: int | None
) -> dict[str, tuple[int, int]]:
    """symbol -> (rows, sum of trade_count) of its candles in [lows[symbol], until_us)."""
    out: dict[str, tuple[int, int]] = {}
    items = sorted(lows.items())
    conn = app_connection(settings, autocommit=True)
    try:
        with conn.cursor() as cur:
            for i in range(0, len(items), 200):
                chunk = items[i : i + 200]
                where = " OR ".join(["(symbol = %s AND window_start >= %s)"] * len(chunk))
                args: list[Any] = [interval]
                for symbol, lo in chunk:
                    args += [symbol, _us_to_dt_sql(lo)]
                until = ""
                if until_us is not None:
                    until, args = " AND window_start < %s", [*args, _us_to_dt_sql(until_us)]
                cur.execute(
                    "SELECT symbol, COUNT(*), COALESCE(SUM(trade_count), 0) FROM candles"
                    f" WHERE bar_interval = %s AND ({where}){until} GROUP BY symbol",
                    args,
                )
                for symbol, n, total in cur.fetchall():
                    out[str(symbol)] = (int(n), int(total))
    finally:
        conn.close()
    return out


def late_trades(
    settings: CommonSettings,
    since_us: int | None,
    symbols: set[str] | None,
    changed_since: Any = None,
) -> list[tuple[str, int, int, bool]]:
    """(symbol, trade id, trade time, recorded at or after ``changed_since``) of the late
    trades at or after ``since_us``."""
    where, args = "1 = 1", []
    if since_us is not None:
        where, args = "trade_time_us >= %s", [since_us]
    new = "1" if changed_since is None else "recorded_at >= %s"
    conn = app_connection(settings, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT symbol, trade_id, trade_time_us, {new} FROM late_trades WHERE {where}",
                args if changed_since is None else [changed_since, *args],
            )
            rows: list[Any] = list(cur.fetchall())
    finally:
        conn.close()
    return [
        (str(s), int(i), int(t), bool(n)) for s, i, t, n in rows if not symbols or str(s) in symbols
    ]
