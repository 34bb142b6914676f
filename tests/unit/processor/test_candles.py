from __future__ import annotations

import itertools
import random
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import pytest

from cryptopipe.processor.candles import (
    PartialCandle,
    datetime_to_us,
    merge,
    merge_all,
    rollup,
    us_to_datetime,
)

Trade = tuple[int, int, Decimal, Decimal, bool]  # time_us, id, price, qty, is_buyer_maker


def candle_of(trades: list[Trade]) -> PartialCandle:
    """A candle straight from trades (the definition the merge must agree with)."""
    first = min(trades, key=lambda t: (t[0], t[1]))
    last = max(trades, key=lambda t: (t[0], t[1]))
    return PartialCandle(
        symbol="BTCUSDT",
        bar_interval="1m",
        window_start_us=0,
        window_end_us=60_000_000,
        open=first[2],
        high=max(t[2] for t in trades),
        low=min(t[2] for t in trades),
        close=last[2],
        volume=sum((t[3] for t in trades), Decimal(0)),
        quote_volume=sum((t[2] * t[3] for t in trades), Decimal(0)),
        trade_count=len(trades),
        taker_buy_volume=sum((t[3] for t in trades if not t[4]), Decimal(0)),
        first_trade_id=first[1],
        last_trade_id=last[1],
        open_trade_time_us=first[0],
        close_trade_time_us=last[0],
    )


def random_trades(n: int, seed: int) -> list[Trade]:
    rng = random.Random(seed)
    return [
        (
            rng.randint(0, 5) * 1000,  # many equal times: ties broken by trade id
            i,
            Decimal(rng.randint(1, 10**9)) / Decimal(10**8),
            Decimal(rng.randint(1, 10**9)) / Decimal(10**8),
            rng.random() < 0.5,
        )
        for i in range(1, n + 1)
    ]


def test_merge_of_any_split_and_order_equals_the_whole() -> None:
    trades = random_trades(60, seed=1)
    whole = candle_of(trades)
    rng = random.Random(2)
    for _ in range(50):
        shuffled = trades[:]
        rng.shuffle(shuffled)
        cuts = sorted(rng.sample(range(1, len(shuffled)), 4))
        parts = [candle_of(shuffled[a:b]) for a, b in itertools.pairwise([0, *cuts, len(shuffled)])]
        rng.shuffle(parts)
        acc = parts[0]
        for p in parts[1:]:
            acc = merge(acc, p)
        assert acc == whole


def test_open_close_ties_on_time_are_broken_by_trade_id() -> None:
    a = candle_of([(1000, 7, Decimal("10"), Decimal("1"), True)])
    b = candle_of([(1000, 5, Decimal("11"), Decimal("1"), False)])
    for m in (merge(a, b), merge(b, a)):
        assert (m.open, m.first_trade_id) == (Decimal("11"), 5)
        assert (m.close, m.last_trade_id) == (Decimal("10"), 7)
        assert m.taker_buy_volume == Decimal("1")


def test_merge_refuses_different_windows() -> None:
    a = candle_of([(1000, 1, Decimal("1"), Decimal("1"), True)])
    with pytest.raises(ValueError):
        merge(a, replace(a, bar_interval="1s"))


def test_merge_all_folds_by_key() -> None:
    trades = random_trades(10, seed=3)
    merged = merge_all([candle_of(trades[:4]), candle_of(trades[4:])])
    assert merged == [candle_of(trades)]


def test_time_conversion_is_exact() -> None:
    t = 1_767_225_600_123_456
    assert us_to_datetime(t) == datetime(2026, 1, 1, 0, 0, 0, 123456)
    assert datetime_to_us(us_to_datetime(t)) == t


def test_rollup_of_second_partials_equals_the_minute_candle() -> None:
    trades = [
        (t * 250_000, i, price, qty, maker)
        for i, (t, (_, _, price, qty, maker)) in enumerate(
            zip(range(0, 480), random_trades(480, seed=9), strict=True), start=1
        )
    ]  # 480 trades over 120 s: two minutes, 120 one-second windows
    seconds: dict[int, list[Trade]] = {}
    for tr in trades:
        seconds.setdefault(tr[0] // 1_000_000, []).append(tr)
    partials = [
        replace(
            candle_of(ts),
            bar_interval="1s",
            window_start_us=sec * 1_000_000,
            window_end_us=(sec + 1) * 1_000_000,
        )
        for sec, ts in seconds.items()
    ]
    minutes = {m: [t for t in trades if t[0] // 60_000_000 == m] for m in (0, 1)}
    want = [
        replace(candle_of(ts), window_start_us=m * 60_000_000, window_end_us=(m + 1) * 60_000_000)
        for m, ts in minutes.items()
    ]
    assert sorted(rollup(partials, "1m", 60_000_000), key=lambda c: c.window_start_us) == want
