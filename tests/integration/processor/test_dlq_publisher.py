"""The DLQ publisher against the real broker: a DLQ that refuses a record's size gets its
excerpt, and a publisher that gave up during an outage recovers when the topic is back."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from cryptopipe.dlq import DlqReason, parse_headers
from cryptopipe.processor.batch import RejectedRow
from cryptopipe.processor.dlq_publisher import HEADER_EXCERPT, HEADER_ORIGINAL_BYTES, DlqPublisher
from cryptopipe.processor.metrics import ProcessorMetrics
from tests.integration.processor.conftest import (
    StackFixture,
    create_topics,
    processor_settings,
    read_all,
)

pytestmark = [pytest.mark.kafka]


def rejected(raw: bytes, offset: int) -> RejectedRow:
    return RejectedRow("it.src", 0, offset, DlqReason.NOT_JSON, "not json", raw, len(raw))


def test_a_record_too_large_for_the_dlq_topic_is_sent_as_its_excerpt(
    stack: StackFixture, tmp_path: Path
) -> None:
    topic = f"it.dlqsize.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": stack.settings.bootstrap_servers()})
    small = NewTopic(
        topic, num_partitions=1, replication_factor=1, config={"max.message.bytes": "20000"}
    )
    for fut in admin.create_topics([small]).values():
        fut.result(30)
    metrics = ProcessorMetrics()
    publisher = DlqPublisher(
        processor_settings(stack, "it.src", tmp_path / "ckpt", topic_dlq=topic), metrics
    )
    whole = b"{" + b"x" * 50_000  # under max_message_bytes, over this DLQ topic's limit
    try:
        report = publisher.publish([rejected(b"{tiny", 1), rejected(whole, 2)])
    finally:
        publisher.close()

    assert (report.delivered, report.given_up) == (2, {})
    got = {m.value(): parse_headers(m.headers()) for m in read_all(stack, topic)}
    assert got[b"{tiny"].get(HEADER_EXCERPT) is None
    excerpt = whole[:4096]
    assert got[excerpt][HEADER_EXCERPT] == "true"
    assert got[excerpt][HEADER_ORIGINAL_BYTES] == str(len(whole))
    failures = metrics.registry.get_sample_value(
        "cryptopipe_processor_dlq_publish_failures_total", {"reason": "msg_size_too_large"}
    )
    assert failures is not None and failures >= 1  # the big one (and its batch companions)


def test_after_giving_up_in_an_outage_the_publisher_recovers_when_the_topic_is_back(
    stack: StackFixture, tmp_path: Path
) -> None:
    topic = f"it.dlqgone.{uuid.uuid4().hex[:8]}"  # not created yet: the DLQ is "down"
    metrics = ProcessorMetrics()
    settings = processor_settings(
        stack,
        "it.src",
        tmp_path / "ckpt",
        topic_dlq=topic,
        dlq_delivery_timeout_s=1.0,
        dlq_retry_max_s=5.0,
    )
    publisher = DlqPublisher(settings, metrics)
    try:
        first = publisher.publish([rejected(b"{a", 1)])
        assert first.delivered == 0 and first.given_up_total == 1 and first.attempts >= 2
        second = publisher.publish([rejected(b"{b", 2)])  # degraded: one attempt, no retries
        assert second.delivered == 0 and second.attempts == 1

        create_topics(stack, [topic], partitions=1)
        third = publisher.publish([rejected(b"{c", 3)])
        fourth = publisher.publish([rejected(b"{d", 4)])
    finally:
        publisher.close()

    # the first attempt after the outage may still meet stale metadata; by the next it works
    assert third.delivered + fourth.delivered >= 1
    assert fourth.delivered == 1
    values = [m.value() for m in read_all(stack, topic)]
    assert b"{d" in values and b"{a" not in values and b"{b" not in values
    published = metrics.registry.get_sample_value("cryptopipe_processor_dlq_published_total")
    assert published == third.delivered + fourth.delivered
