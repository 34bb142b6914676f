"""The audit's validator without Spark: the cheap path and the Jackson-like path agree, and the
rules come from the one shared definition (the agreement with Spark itself is proven in
tests/integration/audit/test_rules_agree_with_spark.py)."""

from __future__ import annotations

import orjson
import pytest

from cryptopipe.audit.validate import _PRODUCER_FORM, Rejection, TradeValidator, spark_row
from cryptopipe.dlq import DlqReason
from cryptopipe.producer.trade import Trade
from cryptopipe.trade_rules import REASON_OF, RULES, Rule
from tests.integration.audit import bad_input


def test_every_rule_has_a_reason_and_a_place_in_the_order() -> None:
    assert [r for r, _ in RULES] == list(Rule)
    assert REASON_OF[Rule.SIZE] is DlqReason.OVERSIZED
    assert REASON_OF[Rule.TYPES] is DlqReason.WRONG_TYPE


def test_fast_path_and_spark_like_path_agree_on_every_corpus_message() -> None:
    v = TradeValidator(64 * 1024)
    for value in bad_input.corpus(seed=3, randoms=2000):
        fast = v._fast(value)
        slow = v._slow(value, b"BTCUSDT")
        if fast is not None:
            assert slow == fast, value
        # the verdict check() gives is the Spark-like one
        assert v.check(value, b"BTCUSDT") == slow


def test_a_producer_trade_takes_the_fast_path() -> None:
    v = TradeValidator(64 * 1024)
    assert v._fast(bad_input.good("ETHUSDT", 42)) == ("ETHUSDT", 42, bad_input.T0)
    # the cheapest path is the producer's own encoding (if it changes, the audit slows down)
    t = Trade("BTCUSDT", 7, "100.10000000", "0.5", bad_input.T0, bad_input.T0 + 1, 0, True)
    assert _PRODUCER_FORM.fullmatch(t.to_json()) is not None
    assert v.check(t.to_json()) == ("BTCUSDT", 7, bad_input.T0)
    zero = Trade("BTCUSDT", 7, "0.00000000", "0.5", bad_input.T0, bad_input.T0, 0, True)
    assert isinstance(v.check(zero.to_json()), Rejection)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, DlqReason.NOT_JSON),
        (b"x" * 70_000, DlqReason.OVERSIZED),
        (b"{not json", DlqReason.NOT_JSON),
        (bad_input.with_raw("trade_id", str(2**70)), DlqReason.WRONG_TYPE),
        (bad_input.with_raw("price", '"-1"'), DlqReason.NON_POSITIVE),
        (bad_input.with_raw("symbol", '"' + "A" * 40 + '"'), DlqReason.UNKNOWN_SYMBOL),
        (bad_input.with_raw("price", '"1.' + "1" * 30 + '"'), DlqReason.BAD_DECIMAL),
        (bad_input.without("is_buyer_maker"), DlqReason.MISSING_FIELD),
        (bad_input.notional("999999999999", "999999999999"), DlqReason.OUT_OF_RANGE),
    ],
)
def test_the_issues_bad_input_is_rejected_for_its_reason(
    value: bytes | None, reason: DlqReason
) -> None:
    got = TradeValidator(64 * 1024).check(value, b"BTCUSDT")
    assert isinstance(got, Rejection) and got.reason is reason


def test_symbol_of_a_rejection_from_the_message_else_the_key() -> None:
    v = TradeValidator(64 * 1024)
    got = v.check(bad_input.with_raw("price", '"-1"', symbol="ETHUSDT"), b"BTCUSDT")
    assert isinstance(got, Rejection) and got.symbol == "ETHUSDT"
    got = v.check(b"{not json", b"SOLUSDT")
    assert isinstance(got, Rejection) and got.symbol == "SOLUSDT"
    got = v.check(b"{not json", b"\xff")
    assert isinstance(got, Rejection) and got.symbol is None


def test_configured_symbols_reject_the_others() -> None:
    v = TradeValidator(64 * 1024, ["BTCUSDT"])
    got = v.check(bad_input.good("ETHUSDT"))
    assert isinstance(got, Rejection) and got.reason is DlqReason.UNKNOWN_SYMBOL
    assert v.check(bad_input.good("BTCUSDT")) == ("BTCUSDT", 1, bad_input.T0)


def test_spark_row_keeps_partial_results_and_the_last_duplicate() -> None:
    assert spark_row('{"v":1.5,"symbol":"X"}') == ({"symbol": "X"}, True)
    assert spark_row('{"symbol":"A","symbol":"B"}') == ({"symbol": "B"}, False)
    assert spark_row('{"price":100.50}') == ({"price": "100.5"}, False)
    assert spark_row('{"price":1e-5,"trade_id":01}') == ({}, True)
    assert spark_row("   ") is None
    assert spark_row(orjson.dumps([1]).decode()) == ({}, True)
