"""Thin adapter over confluent-kafka: idempotent, acks=all, bounded queue, checked deliveries.

- librdkafka's own queue is the bounded in-memory buffer (``queue_max_messages``/``_kbytes``).
  When it is full, ``produce`` raises BufferError: we serve delivery reports and retry, so the
  caller (the source) is slowed down — backpressure. If it stays full longer than
  ``backpressure_timeout_s`` (Kafka unreachable) we fail loudly instead of growing memory.
- librdkafka retries a message until ``delivery_timeout_ms``; a delivery report that still
  carries an error is counted and makes the sink fail (surfaced, never forgotten).
- A fatal client error (e.g. idempotence broken) fails the sink too; the command exits non-zero.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, Producer

from cryptopipe.dlq import DlqRecord
from cryptopipe.observability.logs import KAFKA_CLIENT_LOG
from cryptopipe.producer.metrics import ProducerMetrics
from cryptopipe.producer.settings import ProducerSettings
from cryptopipe.producer.trade import Trade

logger = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]
POLL_EVERY = 500  # produce() calls between two non-blocking polls


class FatalProducerError(RuntimeError):
    """Kafka cannot take our messages; the producer must stop and exit non-zero."""


def producer_config(settings: ProducerSettings) -> dict[str, Any]:
    conf: dict[str, Any] = dict(settings.kafka_client_config())
    conf.update(
        {
            "client.id": "cryptopipe-producer",
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": settings.kafka_compression,
            "linger.ms": settings.kafka_linger_ms,
            "batch.size": settings.kafka_batch_bytes,
            "queue.buffering.max.messages": settings.queue_max_messages,
            "queue.buffering.max.kbytes": settings.queue_max_kbytes,
            "message.timeout.ms": settings.delivery_timeout_ms,
            "statistics.interval.ms": 0,
        }
    )
    return conf


class KafkaSink:
    """Sends normalized trades and DLQ records; counts every delivery report."""

    def __init__(
        self,
        settings: ProducerSettings,
        metrics: ProducerMetrics,
        producer_factory: Callable[[dict[str, Any]], Any] = Producer,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._topic = settings.topic_trades
        self._dlq_topic = settings.topic_dlq
        conf = producer_config(settings)
        conf["error_cb"] = self._on_error
        # One client-wide delivery callback: cheaper than a callback per produce() call.
        conf["on_delivery"] = self._on_delivery
        self._producer = producer_factory(conf)
        self._since_poll = 0
        self._fatal: str | None = None
        self._produced: dict[bytes, list[float]] = {}
        self._latency = metrics.delivery_latency.child()
        self.delivered = 0
        self.failed = 0
        self.dlq_delivered = 0

    # callbacks (run inside poll/flush, on the caller's thread) -------------------------
    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = f"fatal Kafka error: {err.str()}"
        # once: librdkafka's own log line (through the client's logger) usually said it already
        KAFKA_CLIENT_LOG.error(err)

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        """Every delivery report, trades (key = symbol) and DLQ records (no key)."""
        if err is not None:
            self._delivery_failed(err, msg)
            return
        key: bytes | None = msg.key()
        if key is None:
            self.dlq_delivered += 1
            return
        self.delivered += 1
        cell = self._produced.get(key)
        if cell is None:
            cell = self._produced[key] = self._metrics.trades_produced.cell(key.decode())
        cell[0] += 1
        latency = msg.latency()
        if latency is not None:
            self._latency.observe(latency)

    def _delivery_failed(self, err: KafkaError, msg: Any) -> None:
        self.failed += 1
        self._metrics.delivery_failures.labels(msg.topic(), err.name()).inc()
        message = f"delivery to {msg.topic()} failed after retries: {err.str()}"
        if self._fatal is None:
            self._fatal = message
        logger.error("%s (key=%r)", message, msg.key())

    # API -------------------------------------------------------------------------------
    def check(self) -> None:
        """Raise FatalProducerError if Kafka failed us (fatal error or a lost delivery)."""
        if self._fatal is not None:
            raise FatalProducerError(self._fatal)

    def send_trade(self, trade: Trade, headers: Headers | None = None) -> None:
        # The per-trade hot path: the common case inlined, the rest in _produce.
        if self._since_poll < POLL_EVERY:
            try:
                # No headers keyword unless there are headers: parsing it costs ~0.5 us.
                if headers is None:
                    self._producer.produce(self._topic, trade.to_json(), trade.symbol.encode())
                else:
                    self._producer.produce(
                        self._topic, trade.to_json(), trade.symbol.encode(), headers=headers
                    )
            except BufferError:
                pass
            else:
                self._since_poll += 1
                return
        self._produce(self._topic, trade.key(), trade.to_json(), headers)

    def send_dlq(self, record: DlqRecord) -> None:
        self._produce(self._dlq_topic, None, record.raw, record.headers())

    def _produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Headers | None,
    ) -> None:
        producer = self._producer
        try:
            producer.produce(topic, value, key, headers=headers)
        except BufferError:
            self._wait_for_room(topic, key, value, headers)
        self._since_poll += 1
        if self._since_poll >= POLL_EVERY:
            self.poll(0)

    def _wait_for_room(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Headers | None,
    ) -> None:
        started = time.monotonic()
        deadline = started + self._settings.backpressure_timeout_s
        warned = False
        try:
            while True:
                self.poll(0.05)
                try:
                    self._producer.produce(topic, value, key, headers=headers)
                    return
                except BufferError:
                    now = time.monotonic()
                    if now > deadline:
                        waited = self._settings.backpressure_timeout_s
                        servers = self._settings.kafka_bootstrap_servers
                        self._fatal = (
                            f"Kafka client queue full for {waited:.0f} s "
                            f"({len(self._producer)} messages waiting): "
                            f"is Kafka at {servers} reachable?"
                        )
                        raise FatalProducerError(self._fatal) from None
                    if not warned and now - started > 5:
                        warned = True
                        logger.warning(
                            "backpressure: Kafka client queue full (%d messages); slowing input",
                            len(self._producer),
                        )
        finally:
            self._metrics.backpressure_seconds.inc(time.monotonic() - started)

    def poll(self, timeout: float = 0) -> None:
        """Serve delivery reports; raise if Kafka failed us."""
        self._since_poll = 0
        self._producer.poll(timeout)
        self._metrics.queue_depth.set(len(self._producer))
        self.check()

    def pending(self) -> int:
        return len(self._producer)

    def close(self) -> None:
        """Release the client after :meth:`flush`. Messages still pending then (Kafka
        unreachable) are purged: each gets a failed delivery report, counted and logged."""
        producer = self._producer
        if len(producer):
            logger.error("purging %d messages Kafka did not acknowledge", len(producer))
            producer.purge(in_queue=True, in_flight=True)
            producer.poll(0)
        close = getattr(producer, "close", None)
        if close is not None:
            close()

    def flush(self, timeout_s: float | None = None) -> int:
        """Wait for every outstanding delivery report; return how many are still pending."""
        timeout = self._settings.flush_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        remaining = len(self._producer)
        while remaining and time.monotonic() < deadline:
            remaining = self._producer.flush(min(1.0, max(0.0, deadline - time.monotonic())))
        self._metrics.queue_depth.set(remaining)
        return int(remaining)
