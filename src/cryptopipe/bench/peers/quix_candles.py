"""Peer "Quix Streams": 1 m tumbling windows of the backlog into MySQL.

The Python stream processor peers would pick, used as its docs show: the trade time as the
message timestamp (``timestamp_extractor``), ``tumbling_window(1 min)`` with the built-in
aggregations (Earliest/Latest price for open/close, ties broken by processing order, which is
trade id order on each partition; Max/Min; Sum; Count), ``.current()`` so every window's row is
up to date at each checkpoint, and a ``BatchingSink`` that upserts the windows touched since
the last checkpoint with PyMySQL. Prices and quantities are summed as integer counts of 1e-8,
so the candles are exact. State in RocksDB with changelog topics (Quix's defaults).
``app.run(count=N)`` stops after the N-th trade's window update, then the final checkpoint
flushes the sink: the backlog's end.

Runs in the peers' virtualenv (Quix Streams pins confluent-kafka < 2.13):
``<peers python> quix_candles.py --bootstrap ... --topic ...`` (options, password variable and
output: :mod:`cryptopipe.bench.peers.candle_sink`).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

# The peers' virtualenv first (its confluent-kafka), then the directory holding cryptopipe for
# the shared peer helpers (standard library and PyMySQL only).
sys.path.append(str(Path(__file__).resolve().parents[3]))

from confluent_kafka import Consumer, TopicPartition
from quixstreams import Application  # type: ignore[import-not-found]
from quixstreams.dataframe.windows import (  # type: ignore[import-not-found]
    Count,
    Earliest,
    Latest,
    Max,
    Min,
    Sum,
)
from quixstreams.sinks import BatchingSink, SinkBatch  # type: ignore[import-not-found]

from cryptopipe.bench.peers.candle_sink import (
    PeerArgs,
    Reporter,
    Row,
    connect,
    from_units,
    parse_args,
    units,
    window_start,
    write_rows,
)

IDLE_TIMEOUT_S = 30.0  # app.run stops this long after the last message if the count is not met


def candle_row(symbol: str, window: dict[str, Any]) -> Row:
    """One ``.current()`` window value (``start`` in ms) as a row of the peers' table."""
    return (
        symbol,
        window_start(int(window["start"]) * 1000),
        from_units(window["open"]),
        from_units(window["high"]),
        from_units(window["low"]),
        from_units(window["close"]),
        from_units(window["volume"]),
        int(window["trade_count"]),
    )


class CandleSink(BatchingSink):  # type: ignore[misc]
    """Upserts each checkpoint's newest value of every window it touched."""

    def __init__(self, args: PeerArgs, reporter: Reporter) -> None:
        super().__init__()
        self._args = args
        self._reporter = reporter
        self._conn: Any = None
        self.done = 0

    def setup(self) -> None:
        self._conn = connect(self._args)

    def write(self, batch: SinkBatch) -> None:
        newest: dict[tuple[str, int], dict[str, Any]] = {}
        for item in batch:  # in offset order: the last value of a window is its newest
            key = item.key.decode() if isinstance(item.key, bytes) else str(item.key)
            newest[(key, int(item.value["start"]))] = item.value
        write_rows(self._conn, self._args.table, (candle_row(k, v) for (k, _), v in newest.items()))
        self.done += batch.size
        self._reporter.committed(self.done)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def backlog_size(bootstrap: str, topic: str) -> int:
    """Messages on the topic now (from offset 0: a fresh topic of the benchmark)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused"})
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            for p in partitions
        )
    finally:
        consumer.close()


def trade_time_ms(value: Any, _headers: Any, _timestamp: int, _kind: Any) -> int:
    return int(value["trade_time_us"]) // 1000


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    reporter = Reporter()
    total = backlog_size(args.bootstrap, args.topic)
    state_dir = tempfile.mkdtemp(prefix="cryptopipe-bench-quix-")
    sink = CandleSink(args, reporter)
    try:
        app = Application(
            broker_address=args.bootstrap,
            consumer_group=args.group,
            auto_offset_reset="earliest",
            state_dir=state_dir,
            loglevel="WARNING",
        )
        topic = app.topic(args.topic, value_deserializer="json", timestamp_extractor=trade_time_ms)
        sdf = app.dataframe(topic)
        sdf = sdf.apply(lambda t: {"p": units(t["price"]), "q": units(t["quantity"])})
        sdf = (
            sdf.tumbling_window(duration_ms=timedelta(minutes=1))
            .agg(
                open=Earliest("p"),
                high=Max("p"),
                low=Min("p"),
                close=Latest("p"),
                volume=Sum("q"),
                trade_count=Count(),
            )
            .current()
        )
        sdf.sink(sink)
        app.run(count=total, timeout=IDLE_TIMEOUT_S, collect=False)
    finally:
        sink.close()
        shutil.rmtree(state_dir, ignore_errors=True)
    reporter.result(sink.done, backlog=total)
    return 0 if sink.done == total else 1


if __name__ == "__main__":
    sys.exit(main())
