"""The exact reference candles of the processor stage and the row-by-row comparison."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from cryptopipe.bench import dataset
from cryptopipe.bench.reference import (
    Candle,
    RefTrade,
    as_decimal,
    compare,
    reference_candles,
    stored_candle,
)

T0 = dataset.START_TIME_US  # a window start
MIN = 60_000_000


def trade(symbol: str, trade_id: int, t_us: int, price: str, qty: str = "1") -> RefTrade:
    return RefTrade(symbol, trade_id, t_us, price, qty)


def test_open_and_close_are_by_trade_time_then_id_whatever_the_input_order() -> None:
    trades = [
        trade("BTCUSDT", 12, T0 + 5, "101"),
        trade("BTCUSDT", 10, T0 + 1, "99.5"),  # same time as id 11: the lower id opens
        trade("BTCUSDT", 11, T0 + 1, "100"),
        trade("BTCUSDT", 14, T0 + 9, "98"),  # same time as id 13: the higher id closes
        trade("BTCUSDT", 13, T0 + 9, "103.25"),
    ]
    for _ in range(5):
        random.Random(_).shuffle(trades)
        (candle,) = reference_candles(trades).values()
        assert candle == Candle(
            open=Decimal("99.5"),
            high=Decimal("103.25"),
            low=Decimal("98"),
            close=Decimal("98"),
            volume=Decimal("5"),
            trade_count=5,
        )


def test_windows_are_per_symbol_and_minute_and_volumes_exact() -> None:
    trades = [
        trade("BTCUSDT", 1, T0, "10", "0.1"),
        trade("BTCUSDT", 2, T0 + MIN - 1, "11", "0.2"),
        trade("BTCUSDT", 3, T0 + MIN, "12", "0.3"),  # the next window
        trade("ETHUSDT", 1, T0 + 7, "20", "0.00000001"),
    ]
    got = reference_candles(trades)
    assert set(got) == {("BTCUSDT", T0), ("BTCUSDT", T0 + MIN), ("ETHUSDT", T0)}
    assert got[("BTCUSDT", T0)].volume == Decimal("0.3")  # not 0.30000000000000004
    assert got[("BTCUSDT", T0)].trade_count == 2
    assert got[("BTCUSDT", T0 + MIN)].open == got[("BTCUSDT", T0 + MIN)].close == Decimal("12")


def test_a_trade_reads_back_from_the_topic_value_the_benchmark_produces() -> None:
    spec = dataset.DataSpec(count=50, seed=3)
    trades = dataset.trades(spec)
    refs = [RefTrade.from_value(value) for _, value in dataset.encoded(spec)]
    assert [(r.symbol, r.trade_id, r.trade_time_us, r.price, r.quantity) for r in refs] == [
        (t.symbol, t.trade_id, t.trade_time_us, t.price, t.quantity) for t in trades
    ]
    assert sum(c.trade_count for c in reference_candles(refs).values()) == 50


def test_stored_values_are_read_as_the_number_they_stand_for() -> None:
    assert as_decimal(Decimal("1.50000000")) == Decimal("1.5")
    assert as_decimal(0.1) == Decimal("0.1")  # a DOUBLE column's 0.1 is what a reader sees
    assert as_decimal(0.1 + 0.2) == Decimal("0.30000000000000004")
    assert as_decimal(7) == Decimal(7)
    with pytest.raises(TypeError):
        as_decimal(True)
    with pytest.raises(ValueError, match="whole number"):
        stored_candle({"open": 1, "high": 1, "low": 1, "close": 1, "volume": 1, "trade_count": 1.5})


EXACT = Candle(Decimal("10"), Decimal("12"), Decimal("9"), Decimal("11"), Decimal("0.3"), 3)


def test_equal_candles_compare_ok_whatever_the_column_types() -> None:
    row = {"open": 10.0, "high": 12, "low": Decimal("9.00000000"), "close": "11"}
    stored = stored_candle({**row, "volume": Decimal("0.30000000"), "trade_count": 3})
    verdict = compare({("BTCUSDT", T0): EXACT}, [(("BTCUSDT", T0), stored)])
    assert verdict.ok and verdict.matched == 1
    assert verdict.describe() == "all 1 candles equal the exact reference"


def test_a_float_volume_is_wrong_and_the_note_says_which_field_and_shows_it() -> None:
    floaty = stored_candle(
        {
            "open": 10.0,
            "high": 12.0,
            "low": 9.0,
            "close": 11.0,
            "volume": 0.1 + 0.2,
            "trade_count": 3,
        }
    )
    expected = {("BTCUSDT", T0): EXACT, ("ETHUSDT", T0): EXACT}
    verdict = compare(expected, [(("BTCUSDT", T0), floaty), (("ETHUSDT", T0), EXACT)])
    assert not verdict.ok
    assert (verdict.matched, verdict.differed) == (1, 1)
    assert verdict.field_differences == {"volume": 1}
    text = verdict.describe()
    assert "1 of 2 candles wrong" in text
    assert "BTCUSDT 2026-01-01T00:00Z: volume 0.30000000000000004 (exact 0.3)" in text


def test_missing_duplicated_and_extra_windows_are_wrong() -> None:
    other = Candle(EXACT.open, EXACT.high, EXACT.low, Decimal("10.5"), EXACT.volume, 3)
    expected = {("BTCUSDT", T0): EXACT, ("ETHUSDT", T0): EXACT}
    # an append sink: BTCUSDT's window written twice (one row right), ETHUSDT never,
    # and a window no trade fell in
    stored = [
        (("BTCUSDT", T0), other),
        (("BTCUSDT", T0), EXACT),
        (("SOLUSDT", T0 + MIN), EXACT),
    ]
    verdict = compare(expected, stored)
    assert not verdict.ok
    assert (verdict.duplicated, verdict.missing, verdict.extra, verdict.matched) == (1, 1, 1, 0)
    text = verdict.describe()
    assert "2 of 2 candles wrong" in text and "BTCUSDT 2026-01-01T00:00Z: 2 rows" in text
    assert "ETHUSDT 2026-01-01T00:00Z: missing" in text and "1 extra windows" in text


def test_nothing_stored_or_nothing_expected_is_never_ok() -> None:
    assert not compare({("BTCUSDT", T0): EXACT}, []).ok
    assert not compare({}, []).ok
