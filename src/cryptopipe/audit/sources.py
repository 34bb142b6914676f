"""The audit's adapters: scan the trades topic once, read the candle totals from MySQL."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptopipe.audit.core import MICROS, CandleTotals, IdTally, TimeBounds
from cryptopipe.audit.validate import Rejection, TradeValidator
from cryptopipe.config import CommonSettings
from cryptopipe.db.connection import app_connection
from cryptopipe.dlq import parse_headers
from cryptopipe.processor.dlq_publisher import HEADER_ORIGIN

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class TopicScan:
    """Per (bounds, symbol) tallies from one pass over the topic, and the messages the
    processor's rules reject, by (partition, offset)."""

    tallies: dict[TimeBounds, dict[str, IdTally]]
    messages: int = 0
    rejected: dict[tuple[int, int], Rejection] = field(default_factory=dict)
    # accepted by the rules, in scope, and at an offset given in ``watch``
    valid_watched: set[tuple[int, int]] = field(default_factory=set)
    # per partition, the offsets scanned: [first, end)
    ranges: dict[int, tuple[int, int]] = field(default_factory=dict)
    by_partition: dict[int, int] = field(default_factory=dict)


def read_to_end(
    settings: CommonSettings,
    topic_name: str,
    on_message: Callable[[Any], None],
    *,
    timeout_s: float = 300.0,
    after_batch: Callable[[], None] | None = None,
) -> dict[int, tuple[int, int]]:
    """Give every message of ``topic_name``, from each partition's start to its end as of now,
    to ``on_message`` (``after_batch`` runs after each consumed batch). Returns the offsets
    read per partition, ``[first, end)``."""
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
            if high > low:
                ends[pid] = high
                ranges[pid] = (low, high)
                assignment.append(TopicPartition(topic_name, pid, low))
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


def scan_topic(
    settings: CommonSettings,
    bounds: Sequence[TimeBounds],
    symbols: set[str] | None,
    validator: TradeValidator,
    *,
    watch: Collection[tuple[int, int]] = (),
    timeout_s: float = 300.0,
    progress: Callable[[int], None] | None = None,
) -> TopicScan:
    """Read every partition of the trades topic from the start to its end as of now.

    Each message is judged by the processor's own rules (``validator``): a trade of
    ``symbols`` (None: any) joins the tallies, anything else is kept as a rejection, whatever
    its symbol and time (a rejected message has no trade time to trust). A trade of
    ``symbols`` at an offset in ``watch`` (the processor's rejections) is noted as valid."""
    scan = TopicScan(tallies={b: defaultdict(IdTally) for b in set(bounds)})
    pending: dict[tuple[TimeBounds, str], list[int]] = defaultdict(list)
    check, all_bounds, rejected = validator.check, list(scan.tallies), scan.rejected
    watched, valid_watched = set(watch), scan.valid_watched
    by_partition = scan.by_partition

    def on_message(msg: Any) -> None:
        pid = msg.partition()
        by_partition[pid] = by_partition.get(pid, 0) + 1
        fields = check(msg.value())  # the key only matters for a rejection
        if type(fields) is Rejection:
            rejected[(pid, msg.offset())] = validator.with_key(fields, msg.key())
            return
        symbol, trade_id, time_us = fields  # type: ignore[misc]
        if symbols and symbol not in symbols:
            return
        if watched and (pid, msg.offset()) in watched:
            valid_watched.add((pid, msg.offset()))
        for b in all_bounds:
            if b.contains(time_us):
                pending[(b, symbol)].append(trade_id)

    def after_batch() -> None:
        for (b, symbol), ids in pending.items():
            scan.tallies[b][symbol].add_many(ids)
        pending.clear()
        if progress:
            progress(sum(by_partition.values()))

    scan.ranges = read_to_end(
        settings,
        settings.topic_trades,
        on_message,
        timeout_s=timeout_s,
        after_batch=after_batch,
    )
    scan.messages = sum(by_partition.values())
    return scan


def dlq_origins(settings: CommonSettings, timeout_s: float = 300.0) -> set[tuple[int, int]] | None:
    """The (partition, offset) on the trades topic of every record the processor put on the
    DLQ topic (header ``dlq.origin`` = ``topic/partition/offset``); None without a DLQ topic."""
    prefix = settings.topic_trades + "/"
    out: set[tuple[int, int]] = set()

    def on_message(msg: Any) -> None:
        origin = parse_headers(msg.headers()).get(HEADER_ORIGIN, "")
        if origin.startswith(prefix):
            pid, _, offset = origin[len(prefix) :].partition("/")
            if pid.isdigit() and offset.isdigit():
                out.add((int(pid), int(offset)))

    try:
        read_to_end(settings, settings.topic_dlq, on_message, timeout_s=timeout_s)
    except RuntimeError as exc:  # no DLQ topic: nothing to compare with
        logger.warning("DLQ not read: %s", exc)
        return None
    return out


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


def candle_totals(
    settings: CommonSettings,
    interval: str,
    bounds: TimeBounds,
    symbols: set[str] | None,
) -> Mapping[str, CandleTotals]:
    """Sum of trade_count, first and last trade id per symbol; late trade ids in the bounds."""
    where, args = ["bar_interval = %s"], [interval]
    late_where, late_args = ["1 = 1"], []
    if bounds.since_us is not None:
        where.append("window_start >= %s")
        args.append(_us_to_dt_sql(bounds.since_us))
        late_where.append("trade_time_us >= %s")
        late_args.append(bounds.since_us)
    if bounds.until_us is not None:
        where.append("window_start < %s")
        args.append(_us_to_dt_sql(bounds.until_us))
        late_where.append("trade_time_us < %s")
        late_args.append(bounds.until_us)
    conn = app_connection(settings, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT symbol, SUM(trade_count), MIN(first_trade_id), MAX(last_trade_id)"
                f" FROM candles WHERE {' AND '.join(where)} GROUP BY symbol",
                args,
            )
            rows: list[Any] = list(cur.fetchall())
            cur.execute(
                f"SELECT symbol, trade_id FROM late_trades WHERE {' AND '.join(late_where)}",
                late_args,
            )
            late: dict[str, set[int]] = defaultdict(set)
            for symbol, trade_id in cur.fetchall():
                late[str(symbol)].add(int(trade_id))
    finally:
        conn.close()
    out: dict[str, CandleTotals] = {}
    for symbol, count, first, last in rows:
        out[str(symbol)] = CandleTotals(int(count), first, last, frozenset(late.get(symbol, ())))
    for symbol, ids in late.items():
        if symbol not in out:
            out[symbol] = CandleTotals(0, None, None, frozenset(ids))
    if symbols:
        out = {k: v for k, v in out.items() if k in symbols}
    return out
