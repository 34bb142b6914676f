"""The dead-letter contract shared by every service that rejects input.

A record on ``crypto.trades.dlq`` carries the input exactly as received (the Kafka value is the
raw bytes, untouched) and says why in headers, so a person can read the reason with any Kafka
tool and a fixed version of the code can replay the value as it was:

- ``dlq.reason``  short machine-readable reason (one of :class:`DlqReason`), also a metric label
- ``dlq.detail``  human-readable explanation (which field, what was wrong)
- ``dlq.source``  which service / source rejected it (``producer:binance``, ``processor`` ...)
- ``dlq.time_us`` when it was rejected, epoch microseconds
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

HEADER_REASON = "dlq.reason"
HEADER_DETAIL = "dlq.detail"
HEADER_SOURCE = "dlq.source"
HEADER_TIME_US = "dlq.time_us"

MAX_DETAIL_CHARS = 500


class DlqReason(StrEnum):
    """Why input was rejected. Low cardinality on purpose: these become metric labels."""

    NOT_JSON = "not_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    BAD_DECIMAL = "bad_decimal"
    NON_POSITIVE = "non_positive"
    OUT_OF_RANGE = "out_of_range"
    UNKNOWN_SYMBOL = "unknown_symbol"
    BAD_TIME = "bad_time"
    OVERSIZED = "oversized"
    UNSUPPORTED_EVENT = "unsupported_event"
    SCHEMA_VERSION = "schema_version"


@dataclass(frozen=True, slots=True)
class DlqRecord:
    """One rejected input: the raw bytes and why."""

    raw: bytes
    reason: DlqReason
    detail: str
    source: str
    time_us: int

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            (HEADER_REASON, self.reason.value.encode()),
            (HEADER_DETAIL, self.detail[:MAX_DETAIL_CHARS].encode("utf-8", "replace")),
            (HEADER_SOURCE, self.source.encode()),
            (HEADER_TIME_US, str(self.time_us).encode()),
        ]


def make_record(raw: bytes, reason: DlqReason, detail: str, source: str) -> DlqRecord:
    return DlqRecord(raw, reason, detail, source, time.time_ns() // 1000)


def parse_headers(headers: Sequence[tuple[str, bytes | None]] | None) -> Mapping[str, str]:
    """Decode DLQ headers into a dict (for tests, the audit and people)."""
    out: dict[str, str] = {}
    for key, value in headers or ():
        out[key] = value.decode("utf-8", "replace") if value is not None else ""
    return out
