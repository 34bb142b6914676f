"""Peer "confluent-kafka + pymysql": what a user writes instead of Spark.

A plain confluent-kafka consumer (subscribed with its own group, offsets committed after each
MySQL commit), 1 m candles folded in Python with exact Decimals (open/close by trade time, then
trade id), and one batched pymysql upsert of the touched windows per consumed batch. It reads
the topic from the start and stops once it has consumed every partition up to the end offsets
it read when it started. Nothing of our processor is imported: this is the alternative.

Run: ``python -m cryptopipe.bench.peers.kafka_candles --bootstrap ... --topic ...`` (see
:mod:`cryptopipe.bench.peers.candle_sink` for the options, the password variable and output).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from decimal import Decimal

import orjson
from confluent_kafka import Consumer, KafkaException, TopicPartition

from cryptopipe.bench.peers.candle_sink import Reporter, Row, connect, parse_args, write_rows
from cryptopipe.bench.peers.candle_sink import window_start as window_datetime

WINDOW_US = 60_000_000
BATCH = 10_000  # messages per consume() call, and so per MySQL transaction at most
IDLE_LIMIT_S = 60.0  # no message for this long before the end offsets: give up


class Fold:
    """One window's candle so far."""

    __slots__ = ("close", "close_rank", "count", "high", "low", "open", "open_rank", "volume")

    def __init__(self, rank: tuple[int, int], price: Decimal, quantity: Decimal) -> None:
        self.open_rank = self.close_rank = rank
        self.open = self.close = self.high = self.low = price
        self.volume = quantity
        self.count = 1

    def add(self, rank: tuple[int, int], price: Decimal, quantity: Decimal) -> None:
        if rank < self.open_rank:
            self.open_rank, self.open = rank, price
        if rank > self.close_rank:
            self.close_rank, self.close = rank, price
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.volume += quantity
        self.count += 1


def end_offsets(consumer: Consumer, topic: str) -> dict[int, int]:
    meta = consumer.list_topics(topic, timeout=30).topics[topic]
    if meta.error is not None:
        raise KafkaException(meta.error)
    return {
        p: int(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1])
        for p in meta.partitions
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    reporter = Reporter()
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    conn = connect(args)
    folds: dict[tuple[str, int], Fold] = {}
    done = 0
    try:
        ends = end_offsets(consumer, args.topic)
        pending = {p for p, end in ends.items() if end > 0}
        consumer.subscribe([args.topic])
        last_message = time.monotonic()
        while pending:
            messages = consumer.consume(BATCH, timeout=1.0)
            if not messages:
                if time.monotonic() - last_message > IDLE_LIMIT_S:
                    print(f"no message for {IDLE_LIMIT_S:.0f}s; stopping", file=sys.stderr)
                    return 1
                continue
            last_message = time.monotonic()
            touched: set[tuple[str, int]] = set()
            for msg in messages:
                error = msg.error()
                if error is not None:
                    raise KafkaException(error)
                t = orjson.loads(msg.value() or b"null")
                time_us = int(t["trade_time_us"])
                key = (str(t["symbol"]), time_us // WINDOW_US * WINDOW_US)
                rank = (time_us, int(t["trade_id"]))
                price, quantity = Decimal(t["price"]), Decimal(t["quantity"])
                fold = folds.get(key)
                if fold is None:
                    folds[key] = Fold(rank, price, quantity)
                else:
                    fold.add(rank, price, quantity)
                touched.add(key)
                partition, offset = msg.partition(), msg.offset()
                if partition is not None and offset is not None and offset + 1 >= ends[partition]:
                    pending.discard(partition)
            rows: list[Row] = [
                (s, window_datetime(w), f.open, f.high, f.low, f.close, f.volume, f.count)
                for (s, w) in touched
                for f in (folds[(s, w)],)
            ]
            write_rows(conn, args.table, rows)
            consumer.commit(asynchronous=False)
            done += len(messages)
            reporter.committed(done)
    finally:
        consumer.close()
        conn.close()
    reporter.result(done, candles=len(folds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
