"""The audit's validator and the processor's Spark parse decide alike, message by message.

The processor decides in production; the audit must reach the same verdict without Spark, or
rejected input reads as lost trades (issue 17). A corpus of good and bad messages (the issue's
bad-input mix, Spark's JSON edge cases, thousands of seeded random variants) goes through
``BatchTransform.parse`` on the real Spark session and through ``TradeValidator.check``: the
reason (or "valid") must be the same for every message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from pyspark.sql import SparkSession

from cryptopipe.audit.validate import Rejection, TradeValidator
from cryptopipe.trade_rules import DEFAULT_MAX_MESSAGE_BYTES, SYMBOL_MAX_LEN
from tests.integration.audit import bad_input
from tests.integration.audit.helpers import VALID, spark_reasons

pytestmark = [pytest.mark.spark]


def python_reasons(values: Sequence[bytes | None], max_bytes: int, symbols: list[str]) -> list[str]:
    validator = TradeValidator(max_bytes, symbols)
    out = []
    for v in values:
        verdict = validator.check(v, b"BTCUSDT")
        out.append(verdict.reason.value if isinstance(verdict, Rejection) else VALID)
    return out


def disagreements(
    spark: SparkSession, values: list[bytes | None], max_bytes: int, symbols: list[str]
) -> tuple[list[tuple[Any, str, str]], Counter[str]]:
    want = spark_reasons(spark, values, max_bytes, symbols)
    got = python_reasons(values, max_bytes, symbols)
    diff = [
        (v if v is None else v[:160], w, g)
        for v, w, g in zip(values, want, got, strict=True)
        if w != g
    ]
    return diff, Counter(want)


def test_validator_gives_the_reason_spark_gives_for_every_message(spark: SparkSession) -> None:
    values = bad_input.corpus(seed=17, randoms=4000)
    diff, reasons = disagreements(spark, values, DEFAULT_MAX_MESSAGE_BYTES, [])
    assert not diff, f"{len(diff)} of {len(values)} differ, e.g. {diff[:5]}"
    # the corpus exercises every reason the parse can give, and valid trades
    assert set(reasons) >= {
        VALID,
        "not_json",
        "wrong_type",
        "missing_field",
        "bad_decimal",
        "non_positive",
        "out_of_range",
        "unknown_symbol",
        "bad_time",
        "oversized",
        "schema_version",
        "unsupported_event",
    }, reasons


def test_configured_symbols_and_a_small_size_limit_agree_too(spark: SparkSession) -> None:
    g = bad_input.good("ETHUSDT")
    at_limit = g[:-1] + b',"x":"' + b"y" * (300 - len(g) - 7) + b'"}'
    edge = [bad_input.good("SOLUSDT"), at_limit, at_limit[:-2] + b'y"}']
    values = bad_input.corpus(seed=99, randoms=500) + edge
    diff, _reasons = disagreements(spark, values, 300, ["BTCUSDT", "ETHUSDT"])
    assert not diff, f"{len(diff)} of {len(values)} differ, e.g. {diff[:5]}"
    assert len(at_limit) == 300
    assert spark_reasons(spark, edge, 300, ["BTCUSDT", "ETHUSDT"]) == [
        "unknown_symbol",
        VALID,
        "oversized",
    ]


g = bad_input.good()
SPARK_FACTS: list[tuple[str, bytes, str]] = [
    ("a number into a STRING field is its text", bad_input.with_raw("price", "100.50"), VALID),
    ("... in Java's notation", bad_input.with_raw("price", "0.00001"), "bad_decimal"),
    ("a float into BIGINT is corrupt", bad_input.with_raw("trade_id", "5.0"), "wrong_type"),
    ("2^70 overflows BIGINT", bad_input.with_raw("trade_id", str(2**70)), "wrong_type"),
    ("a string is no BOOLEAN", bad_input.with_raw("is_buyer_maker", '"false"'), "wrong_type"),
    (
        "an object into STRING is its JSON",
        bad_input.with_raw("symbol", '{"a":1}'),
        "unknown_symbol",
    ),
    ("a bad first duplicate key is corrupt", b'{"trade_id":"x",' + g[1:], "wrong_type"),
    ("the last duplicate key wins", b'{"symbol":"ETHUSDT",' + g[1:], VALID),
    ("a top-level array is no object", b"[" + g + b"]", "not_json"),
    ("what follows the object is ignored", g + b" xyz", VALID),
    ("single quotes are JSON to Spark", g.replace(b'"', b"'"), VALID),
    # found by this test: Java's `$` matched before a final line terminator, so the processor
    # accepted "BTCUSDT\n" as a symbol of its own (and "100.5\n" as a price)
    ("no symbol with a newline", bad_input.with_raw("symbol", '"BTCUSDT\\n"'), "unknown_symbol"),
    ("no price with a newline", bad_input.with_raw("price", '"100.5\\n"'), "bad_decimal"),
    ("the longest symbol", bad_input.with_raw("symbol", f'"{"A" * SYMBOL_MAX_LEN}"'), VALID),
    (
        "one character longer",
        bad_input.with_raw("symbol", f'"{"A" * (SYMBOL_MAX_LEN + 1)}"'),
        "unknown_symbol",
    ),
]


@pytest.mark.parametrize(("what", "value", "reason"), SPARK_FACTS, ids=[f[0] for f in SPARK_FACTS])
def test_spark_reads_json_as_documented(
    spark: SparkSession, what: str, value: bytes, reason: str
) -> None:
    assert spark_reasons(spark, [value], DEFAULT_MAX_MESSAGE_BYTES, []) == [reason], what
    assert python_reasons([value], DEFAULT_MAX_MESSAGE_BYTES, []) == [reason], what
