"""Rejected rows: excerpts of oversized values, their DLQ headers, MySQL error labels."""

from __future__ import annotations

import pymysql
import pytest

from cryptopipe.dlq import MAX_DETAIL_CHARS, DlqReason, parse_headers
from cryptopipe.processor.batch import RejectedRow
from cryptopipe.processor.dlq_publisher import (
    HEADER_EXCERPT,
    HEADER_ORIGIN,
    HEADER_ORIGINAL_BYTES,
    dlq_headers,
    error_reason,
)
from cryptopipe.processor.settings import (
    DLQ_MESSAGE_MAX_BYTES,
    MAX_MESSAGE_BYTES_LIMIT,
    ProcessorSettings,
)
from cryptopipe.processor.sink import failure_reason


def row(raw: bytes | None, size: int | None, detail: str = "d") -> RejectedRow:
    return RejectedRow("crypto.trades", 2, 77, DlqReason.OVERSIZED, detail, raw, size)


def test_an_oversized_value_is_stored_and_published_as_a_marked_excerpt() -> None:
    r = row(b"x" * 4096, 1_048_577, "value of 1048577 bytes > 65536")
    assert r.is_excerpt
    assert r.stored_detail() == (
        "value of 1048577 bytes > 65536; raw_value is its first 4096 of 1048577 bytes"
    )
    value, headers = dlq_headers(r)
    h = parse_headers(headers)
    assert value == b"x" * 4096
    assert h[HEADER_EXCERPT] == "true"
    assert h[HEADER_ORIGINAL_BYTES] == "1048577"
    assert h[HEADER_ORIGIN] == "crypto.trades/2/77"
    assert h["dlq.reason"] == "oversized"


def test_a_whole_value_is_not_called_an_excerpt() -> None:
    r = row(b"{bad", 4)
    assert not r.is_excerpt
    assert r.stored_detail() == "d"
    _, headers = dlq_headers(r)
    h = parse_headers(headers)
    assert HEADER_EXCERPT not in h and h[HEADER_ORIGINAL_BYTES] == "4"
    assert not row(None, None).is_excerpt  # a null value


def test_the_stored_detail_fits_its_column_with_the_excerpt_note() -> None:
    r = row(b"x" * 10, 999_999, "y" * 2000)
    assert len(r.stored_detail()) == MAX_DETAIL_CHARS
    assert r.stored_detail().endswith("; raw_value is its first 10 of 999999 bytes")


def test_a_whole_rejected_value_always_fits_a_dlq_record() -> None:
    assert MAX_MESSAGE_BYTES_LIMIT + MAX_DETAIL_CHARS * 4 < DLQ_MESSAGE_MAX_BYTES
    with pytest.raises(ValueError, match="max_message_bytes"):
        ProcessorSettings(max_message_bytes=DLQ_MESSAGE_MAX_BYTES)


def test_kafka_errors_become_their_librdkafka_names() -> None:
    from confluent_kafka import KafkaError  # noqa: PLC0415

    assert error_reason(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)) == "msg_size_too_large"
    assert error_reason(KafkaError(KafkaError._MSG_TIMED_OUT)) == "msg_timed_out"


def test_mysql_stalls_get_low_cardinality_reasons() -> None:
    timed_out = pymysql.err.OperationalError(
        2013, f"Lost connection to MySQL server during query ({TimeoutError('timed out')})"
    )
    assert failure_reason(timed_out) == "timeout"
    assert failure_reason(pymysql.err.OperationalError(2013, "Lost connection")) == (
        "connection_lost"
    )
    assert failure_reason(pymysql.err.OperationalError(1205, "Lock wait")) == "lock_wait_timeout"
    assert failure_reason(pymysql.err.OperationalError(1927, "killed")) == "mysql_1927"
    assert failure_reason(pymysql.err.InterfaceError()) == "interfaceerror"
