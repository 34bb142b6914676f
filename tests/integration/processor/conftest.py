"""Fixtures for processor tests: private topics, a shared SparkSession, a clean database."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from pyspark.sql import SparkSession

from cryptopipe.processor.candles import datetime_to_us
from cryptopipe.processor.settings import ProcessorSettings
from tests.integration.processor.dataset import Key

StackFixture = Any  # tests/conftest.py `stack`

STATE_TABLES = (
    "candles",
    "processor_batches",
    "processor_symbol_watermarks",
    "processor_trade_id_ranges",
    "late_trades",
    "rejected_trades",
)

CANDLE_FIELDS = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "vwap",
    "trade_count",
    "taker_buy_volume",
    "first_trade_id",
    "last_trade_id",
)


def create_topics(stack: StackFixture, names: Iterable[str], partitions: int = 3) -> None:
    admin = AdminClient({"bootstrap.servers": stack.settings.bootstrap_servers()})
    futures = admin.create_topics(
        [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
    )
    for fut in futures.values():
        fut.result(30)


def produce(
    stack: StackFixture, topic: str, messages: Iterable[tuple[bytes | None, bytes | None]]
) -> int:
    """Send (key, value) pairs in order, wait for every delivery report."""
    producer = Producer(
        {
            "bootstrap.servers": stack.settings.bootstrap_servers(),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.max.bytes": 4 * 1024 * 1024,  # the broker's limit (2 MiB) decides
        }
    )
    errors: list[Any] = []
    sent = 0

    def report(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(err)

    for key, value in messages:
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.1)
        sent += 1
        producer.poll(0)
    assert producer.flush(60) == 0
    assert not errors, errors[:3]
    return sent


def read_all(stack: StackFixture, topic: str, timeout_s: float = 20.0) -> list[Any]:
    """Every message of ``topic`` up to its end offsets."""
    consumer = Consumer(
        {
            "bootstrap.servers": stack.settings.bootstrap_servers(),
            "group.id": f"test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=timeout_s)
        parts = sorted(meta.topics[topic].partitions)
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)[1]
            for p in parts
        }
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        out: list[Any] = []
        pos = {p: 0 for p in parts}
        deadline = time.monotonic() + timeout_s
        while any(pos[p] < ends[p] for p in parts) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            out.append(msg)
            pos[int(msg.partition() or 0)] = int(msg.offset() or 0) + 1
        return out
    finally:
        consumer.close()


def truncate_state(stack: StackFixture) -> None:
    conn = stack.admin_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(f"USE {stack.settings.mysql_database}")
            for table in STATE_TABLES:
                cur.execute(f"TRUNCATE TABLE {table}")
        conn.commit()
    finally:
        conn.close()


def query(stack: StackFixture, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    conn = stack.app_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())
    finally:
        conn.close()


def candles_in_db(stack: StackFixture) -> dict[Key, dict[str, object]]:
    rows = query(
        stack,
        f"SELECT symbol, bar_interval, window_start, window_end, {', '.join(CANDLE_FIELDS)} "
        "FROM candles",
    )
    out: dict[Key, dict[str, object]] = {}
    for row in rows:
        start = datetime_to_us(row[2])
        end = datetime_to_us(row[3])
        values = dict(zip(CANDLE_FIELDS, row[4:], strict=True))
        values["trade_count"] = int(str(values["trade_count"]))
        for k, v in values.items():
            if isinstance(v, Decimal):
                values[k] = v.normalize()
        values["window_len_us"] = end - start
        out[(str(row[0]), str(row[1]), start)] = values
    return out


def normalized(expected: dict[Key, dict[str, object]]) -> dict[Key, dict[str, object]]:
    out: dict[Key, dict[str, object]] = {}
    for key, values in expected.items():
        v = {k: (x.normalize() if isinstance(x, Decimal) else x) for k, x in values.items()}
        v["window_len_us"] = (1 if key[1] == "1s" else 60) * 1_000_000
        out[key] = v
    return out


@pytest.fixture(scope="session")
def spark(stack: StackFixture, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    from cryptopipe.processor.spark_session import build_spark  # noqa: PLC0415
    from cryptopipe.stack.jars import with_spark_kafka_jars  # noqa: PLC0415

    settings = ProcessorSettings(
        **{**stack.common_kwargs(), "state_dir": tmp_path_factory.mktemp("spark-state")}
    )
    session = build_spark(with_spark_kafka_jars(settings))
    yield session
    session.stop()


def processor_settings(
    stack: StackFixture, topic: str, checkpoint: Path, **kw: Any
) -> ProcessorSettings:
    base = {
        **stack.common_kwargs(),
        "topic_trades": topic,
        "topic_dlq": f"{topic}.dlq",
        "checkpoint_dir": str(checkpoint),
        "metrics_enabled": False,
        "available_now": True,
    }
    base.update(kw)
    return ProcessorSettings(**base)
