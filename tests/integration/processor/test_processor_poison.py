"""Values just under and over every size limit on the path of a message, through the real
processor (Kafka, Spark, MariaDB): the 64 KiB ``max_message_bytes``, librdkafka's 1,000,000-byte
``message.max.bytes`` default (which the DLQ producer keeps) and the broker's 2 MiB. Before the
fix, a value of about 1 MB made the DLQ publish fail the batch on every restart. And a DLQ that
is gone must not stop a batch either."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient
from pyspark.sql import SparkSession

from cryptopipe.dlq import parse_headers
from cryptopipe.processor.dlq_publisher import (
    HEADER_EXCERPT,
    HEADER_ORIGIN,
    HEADER_ORIGINAL_BYTES,
)
from cryptopipe.processor.job import run
from cryptopipe.processor.metrics import ProcessorMetrics
from cryptopipe.processor.settings import DEFAULT_EXCERPT_BYTES, DLQ_MESSAGE_MAX_BYTES
from cryptopipe.stack.kafka import broker_layouts
from tests.integration.processor.conftest import (
    StackFixture,
    candles_in_db,
    create_topics,
    normalized,
    processor_settings,
    produce,
    query,
    read_all,
    truncate_state,
)
from tests.integration.processor.dataset import T, expected_candles, make_trades, send_order
from tests.integration.processor.helpers import sample

pytestmark = [pytest.mark.kafka, pytest.mark.mysql, pytest.mark.spark]

PROCESSOR_MAX = 64 * 1024  # the max_message_bytes default
CLIENT_MAX = DLQ_MESSAGE_MAX_BYTES  # librdkafka's message.max.bytes default
BROKER_MAX = 2 * 1024 * 1024  # the stack's broker message.max.bytes
RECORD_OVERHEAD = 1024  # record batch + record headers of a one-record batch, generously


def padded(t: T, size: int) -> bytes:
    """``t`` as JSON of exactly ``size`` bytes (whitespace before the closing brace)."""
    v = t.value()
    assert size >= len(v)
    return v[:-1] + b" " * (size - len(v)) + b"}"


def by_origin(stack: StackFixture, topic: str) -> dict[str, Any]:
    return {f"{topic}/{m.partition()}/{m.offset()}": m for m in read_all(stack, topic, 60)}


def total(metrics: ProcessorMetrics, family: str) -> dict[str, float]:
    """A labelled counter's values by its ``reason`` label."""
    return {
        s.labels["reason"]: s.value
        for fam in metrics.registry.collect()
        if fam.name == family
        for s in fam.samples
        if s.name.endswith("_total")
    }


def test_the_broker_limit_tested_here_is_the_stacks(stack: StackFixture) -> None:
    for broker in broker_layouts(stack.settings):
        assert f"message.max.bytes={BROKER_MAX}\n" in broker.config_file.read_text()


def test_values_around_every_size_limit_are_rejected_with_bounded_excerpts(
    stack: StackFixture, spark: SparkSession, tmp_path: Path
) -> None:
    topic = f"it.poison.{uuid.uuid4().hex[:8]}"
    dlq_topic = f"{topic}.dlq"
    create_topics(stack, [topic, dlq_topic])
    truncate_state(stack)
    trades = send_order(make_trades(["BTCUSDT", "ETHUSDT"], per_symbol=300, span_s=60, seed=31), 3)
    # valid trades sent padded right up to the processor's limit: accepted
    at_limit = {trades[100].trade_id: PROCESSOR_MAX, trades[400].trade_id: PROCESSOR_MAX - 1}
    oversized_sizes = [
        PROCESSOR_MAX + 1,
        CLIENT_MAX - RECORD_OVERHEAD,  # a whole DLQ record of it would just fit the client
        CLIENT_MAX + 1,  # would not
        BROKER_MAX - RECORD_OVERHEAD,  # the largest the broker takes
    ]
    messages: list[tuple[bytes | None, bytes | None]] = []
    oversized: list[bytes] = []
    for i, t in enumerate(trades):
        size = at_limit.get(t.trade_id) if t.symbol == "BTCUSDT" else None
        messages.append((t.symbol.encode(), padded(t, size) if size else t.value()))
        if i % 130 == 65 and len(oversized) < len(oversized_sizes):
            big = padded(t, oversized_sizes[len(oversized)])  # a trade, but far too big
            oversized.append(big)
            messages.append((t.symbol.encode(), big))
    small_poison = b"{not json" + b"x" * 100
    messages.insert(len(messages) // 2, (b"BTCUSDT", small_poison))
    assert len(oversized) == len(oversized_sizes)
    produce(stack, topic, messages)

    # one byte over the broker's limit never reaches the topic (nor the processor)
    too_big = Producer(
        {
            "bootstrap.servers": stack.settings.bootstrap_servers(),
            "message.max.bytes": 2 * BROKER_MAX,
        }
    )
    errors: list[Any] = []
    too_big.produce(
        topic,
        key=b"BTCUSDT",
        value=padded(trades[0], BROKER_MAX + 1),
        on_delivery=lambda e, _m: errors.append(e),
    )
    too_big.flush(30)
    assert [e.code() for e in errors] == [KafkaError.MSG_SIZE_TOO_LARGE]

    metrics = ProcessorMetrics()
    settings = processor_settings(stack, topic, tmp_path / "ckpt", max_offsets_per_trigger=150)
    assert settings.max_message_bytes == PROCESSOR_MAX

    run(settings, spark=spark, metrics=metrics)

    # every valid trade committed, the ones right at the limit too
    assert candles_in_db(stack) == normalized(expected_candles(trades))
    rejected = query(
        stack,
        "SELECT topic, kafka_partition, kafka_offset, reason, detail, raw_value "
        "FROM rejected_trades ORDER BY kafka_partition, kafka_offset",
    )
    assert Counter(r[3] for r in rejected) == Counter({"oversized": 4, "not_json": 1})
    originals = by_origin(stack, topic)
    dlq = read_all(stack, dlq_topic, 60)
    dlq_by_origin = {parse_headers(m.headers())[HEADER_ORIGIN]: m for m in dlq}
    assert len(dlq) == len(dlq_by_origin) == 5
    for topic_, part, off, reason, detail, raw in rejected:
        origin = f"{topic_}/{part}/{off}"
        original = originals[origin].value()  # the whole value, read back from its origin
        record = dlq_by_origin[origin]
        h = parse_headers(record.headers())
        assert h["dlq.reason"] == reason
        assert h[HEADER_ORIGINAL_BYTES] == str(len(original))
        if reason == "oversized":
            assert original in oversized
            assert raw == record.value() == original[:DEFAULT_EXCERPT_BYTES]  # bounded
            assert h[HEADER_EXCERPT] == "true"
            assert detail == (
                f"value of {len(original)} bytes > {PROCESSOR_MAX}; raw_value is its first "
                f"{DEFAULT_EXCERPT_BYTES} of {len(original)} bytes"
            )
        else:
            assert raw == record.value() == original == small_poison  # whole, untouched
            assert HEADER_EXCERPT not in h
    assert sorted(len(o) for o in oversized) == sorted(oversized_sizes)
    assert sample(metrics, "cryptopipe_processor_rejected_rows_total", reason="oversized") == 4
    assert sample(metrics, "cryptopipe_processor_dlq_published_total") == 5
    assert total(metrics, "cryptopipe_processor_dlq_publish_failures") == {}

    # restart from the checkpoint with more of the same: no batch fails, nothing twice
    newest = max(t.trade_time_us for t in trades)
    more = [
        T(t.symbol, t.trade_id + 10_000, t.price, t.quantity, t.trade_time_us, t.is_buyer_maker)
        for t in make_trades(["BTCUSDT"], 50, span_s=5, seed=32, start_us=newest + 1_000_000)
    ]
    produce(
        stack,
        topic,
        [(t.symbol.encode(), t.value()) for t in more[:25]]
        + [(b"BTCUSDT", padded(more[0], CLIENT_MAX + 1))]
        + [(t.symbol.encode(), t.value()) for t in more[25:]],
    )
    run(settings, spark=spark, metrics=metrics)
    assert candles_in_db(stack) == normalized(expected_candles(trades + more))
    assert int(query(stack, "SELECT COUNT(*) FROM rejected_trades")[0][0]) == 6
    assert len(read_all(stack, dlq_topic, 60)) == 6


def test_a_missing_dlq_topic_costs_the_dlq_records_but_not_the_batch(
    stack: StackFixture, spark: SparkSession, tmp_path: Path
) -> None:
    topic = f"it.nodlq.{uuid.uuid4().hex[:8]}"
    dlq_topic = f"{topic}.dlq"
    create_topics(stack, [topic, dlq_topic])
    delete_topic(stack, dlq_topic)  # gone (and auto-create is off)
    truncate_state(stack)
    trades = send_order(make_trades(["BTCUSDT", "ETHUSDT"], per_symbol=200, span_s=40, seed=41), 4)
    messages: list[tuple[bytes | None, bytes | None]] = [
        (t.symbol.encode(), t.value()) for t in trades
    ]
    poison = [b"{not json", padded(trades[0], CLIENT_MAX + 1), b"[1, 2]"]
    for i, p in enumerate(poison):  # one in each of three batches
        messages.insert(50 + i * 150, (b"BTCUSDT", p))
    produce(stack, topic, messages)
    metrics = ProcessorMetrics()
    settings = processor_settings(
        stack,
        topic,
        tmp_path / "ckpt",
        max_offsets_per_trigger=150,
        dlq_delivery_timeout_s=2.0,
        dlq_retry_max_s=4.0,
    )

    run(settings, spark=spark, metrics=metrics)

    assert candles_in_db(stack) == normalized(expected_candles(trades))
    reasons = Counter(r for (r,) in query(stack, "SELECT reason FROM rejected_trades"))
    assert reasons == Counter({"not_json": 2, "oversized": 1})
    failures = total(metrics, "cryptopipe_processor_dlq_publish_failures")
    given_up = total(metrics, "cryptopipe_processor_dlq_publish_given_up")
    assert sum(given_up.values()) == len(poison), given_up
    # the first batch retried before giving up; later ones tried once (degraded)
    assert sum(failures.values()) > len(poison), failures
    assert sample(metrics, "cryptopipe_processor_dlq_published_total") == 0

    # the DLQ is back: the next rejected message reaches it
    create_topics(stack, [dlq_topic])
    produce(stack, topic, [(b"ETHUSDT", b"{still not json")])
    run(settings, spark=spark, metrics=metrics)
    dlq = read_all(stack, dlq_topic, 30)
    assert [m.value() for m in dlq] == [b"{still not json"]
    assert sample(metrics, "cryptopipe_processor_dlq_published_total") == 1


def delete_topic(stack: StackFixture, name: str) -> None:
    admin = AdminClient({"bootstrap.servers": stack.settings.bootstrap_servers()})
    for fut in admin.delete_topics([name]).values():
        fut.result(30)
