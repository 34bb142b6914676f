"""Publishes rejected messages to the DLQ topic (cryptopipe.dlq contract), never failing a batch.

Each record is the value as received, or for an oversized one its first
``oversized_excerpt_bytes`` (header ``dlq.excerpt``), with ``dlq.original_bytes`` and
``dlq.origin`` (``topic/partition/offset``) so the original can be read from the input topic.

A delivery that fails is counted (``dlq_publish_failures_total{reason}``, reason = the Kafka
error) and retried with backoff for up to ``dlq_retry_max_s``; a record too large for the DLQ
is sent again as an excerpt (and a small one refused with it, in the same record batch, once
more as it is). Then the publisher gives up on what is left: logged and counted
(``dlq_publish_given_up_total{reason}``), and the batch goes on (its ``rejected_trades`` rows
are the record of every rejected message). After giving up, later batches make one attempt
each (no retries) until a delivery succeeds, so a long DLQ outage does not slow every batch.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from cryptopipe.dlq import make_record
from cryptopipe.processor.batch import RejectedRow
from cryptopipe.processor.metrics import ProcessorMetrics
from cryptopipe.processor.settings import DLQ_MESSAGE_MAX_BYTES, ProcessorSettings

logger = logging.getLogger(__name__)

SOURCE = "processor"
HEADER_ORIGIN = "dlq.origin"
HEADER_EXCERPT = "dlq.excerpt"
HEADER_ORIGINAL_BYTES = "dlq.original_bytes"

# Kafka errors that sending the same record again cannot cure
PERMANENT_ERRORS = frozenset(
    {
        "MSG_SIZE_TOO_LARGE",
        "INVALID_MSG_SIZE",
        "INVALID_RECORD",
        "CORRUPT_MESSAGE",
        "TOPIC_AUTHORIZATION_FAILED",
        "CLUSTER_AUTHORIZATION_FAILED",
        "_INVALID_ARG",
    }
)
TOO_LARGE = "msg_size_too_large"
UNCONFIRMED = "unconfirmed"
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 5.0
FLUSH_MARGIN_S = 5.0


def error_reason(err: Any) -> str:
    """A Kafka error as a metric label: its librdkafka name, lower case (a fixed set)."""
    name = str(err.name()) if hasattr(err, "name") else type(err).__name__
    return name.lstrip("_").lower()


def _permanent(err: Any) -> bool:
    return hasattr(err, "name") and str(err.name()) in PERMANENT_ERRORS


def dlq_headers(row: RejectedRow, source: str = SOURCE) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The DLQ value and headers of a rejected row."""
    record = make_record(row.raw or b"", row.reason, row.detail, source)
    headers = [
        *record.headers(),
        (HEADER_ORIGIN, f"{row.topic}/{row.partition}/{row.offset}".encode()),
    ]
    if row.raw_size is not None:
        headers.append((HEADER_ORIGINAL_BYTES, str(row.raw_size).encode()))
    if row.is_excerpt:
        headers.append((HEADER_EXCERPT, b"true"))
    return record.raw, headers


@dataclass(slots=True)
class PublishReport:
    """What one :meth:`DlqPublisher.publish` achieved."""

    delivered: int = 0
    attempts: int = 0
    # reason -> records left off the DLQ (they are in rejected_trades)
    given_up: dict[str, int] = field(default_factory=dict)

    @property
    def given_up_total(self) -> int:
        return sum(self.given_up.values())

    def give_up(self, reason: str, n: int = 1) -> None:
        self.given_up[reason] = self.given_up.get(reason, 0) + n


@dataclass(frozen=True, slots=True)
class _Failure:
    row: RejectedRow
    reason: str
    permanent: bool
    fatal: bool


class DlqPublisher:
    def __init__(
        self,
        settings: ProcessorSettings,
        metrics: ProcessorMetrics | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._sleep = sleep
        self._producer: Any = None
        self._degraded = False

    def _get(self) -> Any:
        if self._producer is None:
            from confluent_kafka import Producer  # noqa: PLC0415 (only if something is rejected)

            conf: dict[str, Any] = dict(self._settings.kafka_client_config())
            conf.update(
                {
                    "enable.idempotence": True,
                    "acks": "all",
                    "linger.ms": 5,
                    # the client's default, stated: settings keep a whole value below it
                    "message.max.bytes": DLQ_MESSAGE_MAX_BYTES,
                    "message.timeout.ms": round(self._settings.dlq_delivery_timeout_s * 1000),
                }
            )
            self._producer = Producer(conf)
        return self._producer

    def _drop_producer(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                self._producer.flush(0)
            self._producer = None

    def _attempt(self, rows: list[RejectedRow]) -> tuple[list[_Failure], int]:
        """Send ``rows`` once and wait for every delivery report (bounded): the failures and
        how many records are still unconfirmed."""
        from confluent_kafka import KafkaException  # noqa: PLC0415

        producer = self._get()
        failures: list[_Failure] = []
        confirmed = 0

        def report(row: RejectedRow) -> Callable[[Any, Any], None]:
            def on_delivery(err: Any, _msg: Any) -> None:
                nonlocal confirmed
                confirmed += 1
                if err is not None:
                    failures.append(_Failure(row, error_reason(err), _permanent(err), err.fatal()))

            return on_delivery

        queued = 0
        for row in rows:
            value, headers = dlq_headers(row)
            while True:
                try:
                    producer.produce(
                        self._settings.topic_dlq,
                        value=value,
                        headers=headers,
                        on_delivery=report(row),
                    )
                    queued += 1
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    producer.poll(0.1)
                except KafkaException as exc:  # refused before sending (e.g. too large)
                    err = exc.args[0]
                    failures.append(_Failure(row, error_reason(err), _permanent(err), False))
                    break
            producer.poll(0)
        producer.flush(self._settings.dlq_delivery_timeout_s + FLUSH_MARGIN_S)
        if any(f.fatal for f in failures):
            logger.warning("DLQ producer hit a fatal error; a new one is made for the next try")
            self._drop_producer()
        return failures, queued - confirmed

    def publish(self, rows: list[RejectedRow]) -> PublishReport:
        """Send ``rows`` and wait; retry failures within ``dlq_retry_max_s``, then give up on
        them (never raises for a Kafka failure)."""
        from confluent_kafka import KafkaException  # noqa: PLC0415

        out = PublishReport()
        if not rows:
            return out
        m = self._metrics
        deadline = time.monotonic() + self._settings.dlq_retry_max_s
        delay = BACKOFF_START_S
        pending = list(rows)
        outage = False  # a transient failure was given up on
        size_retried: set[tuple[str, int, int]] = set()
        while pending:
            out.attempts += 1
            try:
                failures, unconfirmed = self._attempt(pending)
            except KafkaException as exc:  # e.g. the producer could not be made
                logger.warning("DLQ producer failed: %s", exc)
                self._drop_producer()
                err = exc.args[0] if exc.args else exc
                failures = [_Failure(r, error_reason(err), False, False) for r in pending]
                unconfirmed = 0
            out.delivered += len(pending) - len(failures) - unconfirmed
            if unconfirmed:
                # still queued after message.timeout.ms (should not happen): they may yet
                # arrive, so they are not sent again
                logger.warning("%d DLQ record(s) unconfirmed after flush", unconfirmed)
                out.give_up(UNCONFIRMED, unconfirmed)
            retry: list[_Failure] = []
            for f in failures:
                if m is not None:
                    m.dlq_failures.labels(f.reason).inc()
                excerpt = self._excerpt(f.row) if f.reason == TOO_LARGE else None
                origin = (f.row.topic, f.row.partition, f.row.offset)
                if excerpt is not None:  # too large for the DLQ: its excerpt is not
                    retry.append(replace(f, row=excerpt))
                elif f.reason == TOO_LARGE and origin not in size_retried:
                    # the broker refuses a whole record batch: a small record sent in one
                    # with a too large one fails with it, so it gets one more try
                    size_retried.add(origin)
                    retry.append(f)
                elif f.permanent:
                    out.give_up(f.reason)
                else:
                    retry.append(f)
            if retry and (self._degraded or time.monotonic() + delay > deadline):
                for f in retry:
                    out.give_up(f.reason)
                    outage = outage or not f.permanent
                retry = []
            if retry:
                logger.warning(
                    "DLQ delivery of %d record(s) failed (%s); retrying in %.1fs",
                    len(retry),
                    ", ".join(sorted({f.reason for f in retry})),
                    delay,
                )
                self._sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
            pending = [f.row for f in retry]
        self._after(out, len(rows), outage)
        return out

    def _excerpt(self, row: RejectedRow) -> RejectedRow | None:
        n = self._settings.oversized_excerpt_bytes
        if row.raw is None or len(row.raw) <= n:
            return None
        return replace(row, raw=row.raw[:n], raw_size=row.raw_size or len(row.raw))

    def _after(self, out: PublishReport, total: int, outage: bool) -> None:
        m = self._metrics
        if m is not None:
            m.dlq_published.inc(out.delivered)
            for reason, n in out.given_up.items():
                m.dlq_given_up.labels(reason).inc(n)
        if out.given_up:
            logger.error(
                "DLQ: %d of %d rejected message(s) not published after %d attempt(s) (%s); "
                "they are in rejected_trades, the batch goes on",
                out.given_up_total,
                total,
                out.attempts,
                ", ".join(f"{k}={v}" for k, v in sorted(out.given_up.items())),
            )
        if outage and not self._degraded:
            logger.warning("DLQ degraded: one attempt per batch until a delivery succeeds")
            self._degraded = True
        elif self._degraded and out.delivered and not outage:
            logger.info("DLQ recovered: deliveries succeed again")
            self._degraded = False

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(self._settings.dlq_delivery_timeout_s)
            self._producer = None
