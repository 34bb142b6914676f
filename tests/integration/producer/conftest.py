"""Helpers for producer tests against the real broker: private topics and a reader."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from cryptopipe.dlq import parse_headers
from cryptopipe.producer.settings import ProducerSettings

StackFixture = Any  # the session `stack` fixture (tests/conftest.py)


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes
    headers: dict[str, str]
    partition: int

    def json(self) -> Any:
        return orjson.loads(self.value)


@dataclass
class Topics:
    """A private pair of topics (trades + DLQ) so tests never see each other's messages."""

    bootstrap: str
    trades: str
    dlq: str

    def read(self, topic: str, timeout_s: float = 10.0, expect: int | None = None) -> list[Record]:
        """Everything on ``topic`` (all partitions, from the start), up to the high watermark."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"test-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            }
        )
        try:
            meta = consumer.list_topics(topic, timeout=timeout_s)
            partitions = sorted(meta.topics[topic].partitions)
            ends = {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)[1]
                for p in partitions
            }
            consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
            records: list[Record] = []
            done = {p for p, end in ends.items() if end == 0}
            deadline = time.monotonic() + timeout_s
            while len(done) < len(partitions) and time.monotonic() < deadline:
                for msg in consumer.consume(10_000, timeout=0.5):
                    value, partition, offset = msg.value(), msg.partition(), msg.offset()
                    if msg.error() or value is None or partition is None or offset is None:
                        continue
                    raw_headers = msg.headers() or []
                    headers = [
                        (k, v if isinstance(v, bytes | None) else v.encode())
                        for k, v in (
                            raw_headers.items() if isinstance(raw_headers, dict) else raw_headers
                        )
                    ]
                    records.append(
                        Record(msg.key(), value, dict(parse_headers(headers)), partition)
                    )
                    if offset + 1 >= ends[partition]:
                        done.add(partition)
            assert len(done) == len(partitions), "timed out reading the topic"
            if expect is not None:
                assert len(records) == expect
            return records
        finally:
            consumer.close()


@pytest.fixture
def topics(stack: StackFixture) -> Iterator[Topics]:
    bootstrap = stack.settings.bootstrap_servers()
    suffix = uuid.uuid4().hex[:10]
    result = Topics(bootstrap, f"test.trades.{suffix}", f"test.dlq.{suffix}")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(result.trades, 3, 1), NewTopic(result.dlq, 1, 1)], request_timeout=30
    )
    for future in futures.values():
        future.result(timeout=30)
    yield result
    for future in admin.delete_topics([result.trades, result.dlq]).values():
        future.result(timeout=30)


@pytest.fixture
def settings_factory(stack: StackFixture, topics: Topics) -> Any:
    """Build ProducerSettings against the test stack and the private topics."""

    def build(**kwargs: Any) -> ProducerSettings:
        common = stack.common_kwargs()
        common.update(topic_trades=topics.trades, topic_dlq=topics.dlq)
        defaults: dict[str, Any] = {"kafka_linger_ms": 5, "flush_timeout_s": 30.0}
        defaults.update(kwargs)
        return ProducerSettings(**common, **defaults)

    return build
