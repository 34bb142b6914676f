"""Publishes rejected messages to the DLQ topic (cryptopipe.dlq contract), at least once."""

from __future__ import annotations

import logging
from typing import Any

from cryptopipe.dlq import make_record
from cryptopipe.processor.batch import RejectedRow
from cryptopipe.processor.settings import ProcessorSettings

logger = logging.getLogger(__name__)

SOURCE = "processor"
HEADER_ORIGIN = "dlq.origin"


class DlqPublisher:
    def __init__(self, settings: ProcessorSettings) -> None:
        self._settings = settings
        self._producer: Any = None

    def _get(self) -> Any:
        if self._producer is None:
            from confluent_kafka import Producer  # noqa: PLC0415 (only if something is rejected)

            conf: dict[str, Any] = dict(self._settings.kafka_client_config())
            conf.update({"enable.idempotence": True, "acks": "all", "linger.ms": 5})
            self._producer = Producer(conf)
        return self._producer

    def publish(self, rows: list[RejectedRow], timeout_s: float = 30.0) -> int:
        """Send and wait; returns how many were not confirmed."""
        if not rows:
            return 0
        producer = self._get()
        failed = 0

        def on_delivery(err: Any, _msg: Any) -> None:
            nonlocal failed
            if err is not None:
                failed += 1
                logger.warning("DLQ delivery failed: %s", err)

        for row in rows:
            record = make_record(row.raw or b"", row.reason, row.detail, SOURCE)
            headers = [
                *record.headers(),
                (HEADER_ORIGIN, f"{row.topic}/{row.partition}/{row.offset}".encode()),
            ]
            producer.produce(
                self._settings.topic_dlq, value=record.raw, headers=headers, on_delivery=on_delivery
            )
            producer.poll(0)
        remaining = int(producer.flush(timeout_s))
        return failed + remaining

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(10.0)
            self._producer = None
