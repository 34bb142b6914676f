"""summary.fold: the groups of the one aggregation of a batch -> counts, candles, ranges, rows."""

from __future__ import annotations

import random
from dataclasses import fields
from decimal import Decimal
from typing import Any

from cryptopipe.dlq import DlqReason
from cryptopipe.processor.candles import PartialCandle, merge_all, rollup
from cryptopipe.processor.intervals import parse_intervals, rollup_plan
from cryptopipe.processor.summary import fold, window_key

ONE_S, ONE_M = parse_intervals("1s,1m")
T0 = 1_767_225_600_000_000

Trade = tuple[str, int, int, Decimal, Decimal, bool]  # symbol, id, time_us, price, qty, maker


def group_of(trades: list[Trade], **keys: Any) -> dict[str, Any]:
    """What BatchSummary computes for a group of accepted trades (from the trades, directly)."""
    first = min(trades, key=lambda t: (t[2], t[1]))
    last = max(trades, key=lambda t: (t[2], t[1]))
    return {
        "symbol": trades[0][0],
        "status": "accepted",
        window_key(ONE_S): trades[0][2] - trades[0][2] % 1_000_000,
        "bucket": None,
        "row": None,
        "n": len(trades),
        "max_time_us": max(t[2] for t in trades),
        "lo": min(t[1] for t in trades),
        "hi": max(t[1] for t in trades),
        "open": first[3],
        "close": last[3],
        "high": max(t[3] for t in trades),
        "low": min(t[3] for t in trades),
        "volume": sum((t[4] for t in trades), Decimal(0)),
        "quote_volume": sum((t[3] * t[4] for t in trades), Decimal(0)),
        "taker_buy_volume": sum((t[4] for t in trades if not t[5]), Decimal(0)),
        "first_trade_id": first[1],
        "last_trade_id": last[1],
        "open_trade_time_us": first[2],
        "close_trade_time_us": last[2],
        **keys,
    }


# the fields a group carries under the same name as a PartialCandle
CANDLE_FIELDS = [
    f.name
    for f in fields(PartialCandle)
    if f.name not in {"symbol", "bar_interval", "window_start_us", "window_end_us", "trade_count"}
]


def candle_of(trades: list[Trade], label: str, size_us: int) -> PartialCandle:
    g = group_of(trades)
    start = trades[0][2] - trades[0][2] % size_us
    return PartialCandle(
        symbol=trades[0][0],
        bar_interval=label,
        window_start_us=start,
        window_end_us=start + size_us,
        trade_count=g["n"],
        **{f: g[f] for f in CANDLE_FIELDS},
    )


def trades_of(symbol: str, n: int, seed: int) -> list[Trade]:
    rng = random.Random(seed)
    out: list[Trade] = []
    t = T0
    for i in range(n):
        t += rng.choice([0, 100_000, 350_000])
        price = Decimal(rng.randint(1, 10**9)) / 10**8
        qty = Decimal(rng.randint(1, 10**9)) / 10**8
        out.append((symbol, 1000 + i, t, price, qty, rng.random() < 0.5))
    return out


def test_groups_split_anyhow_give_the_candles_of_every_interval() -> None:
    trades = trades_of("BTCUSDT", 400, seed=1)
    rng = random.Random(2)
    # split each second's trades into random groups (as buckets and high bits do)
    by_second: dict[int, list[Trade]] = {}
    for t in trades:
        by_second.setdefault(t[2] // 1_000_000, []).append(t)
    groups = []
    for ts in by_second.values():
        rng.shuffle(ts)
        cut = rng.randint(1, len(ts))
        groups += [group_of(part) for part in (ts[:cut], ts[cut:]) if part]
    rng.shuffle(groups)
    direct, rolled = rollup_plan([ONE_S, ONE_M])

    s = fold(groups, direct, rolled)

    seconds = [candle_of(ts, "1s", 1_000_000) for ts in by_second.values()]
    want = {c.key: c for c in seconds + rollup(merge_all(seconds), "1m", 60_000_000)}
    assert {c.key: c for c in s.candles} == want
    assert s.by_status == {"accepted": 400}
    assert s.symbol_max_time_us == {"BTCUSDT": max(t[2] for t in trades)}


def test_ranges_come_from_contiguous_groups_and_holes_ask_for_the_rows() -> None:
    trades = trades_of("ETHUSDT", 50, seed=3)
    direct, rolled = rollup_plan([ONE_S])
    runs = fold([group_of(trades[:20]), group_of(trades[20:])], direct, rolled)
    assert runs.new_ranges == {"ETHUSDT": [(1000, 1049)]}
    holes = fold([group_of(trades[:20] + trades[30:])], direct, rolled)
    assert holes.new_ranges is None  # 40 ids between 1000 and 1049: which are missing is unknown


def test_interleaved_groups_of_a_symbol_give_its_range_without_the_rows() -> None:
    # a live stream splits each window's ids over latency buckets and traced trades' own
    # groups: every group has holes the others fill. Before, each such batch ran a second
    # Spark job to read the ranges from the rows.
    trades = trades_of("ETHUSDT", 60, seed=4)
    direct, rolled = rollup_plan([ONE_S])
    even, odd = trades[0::2], trades[1::2]
    interleaved = [group_of(even, bucket=1), group_of(odd[:-1], bucket=2), group_of(odd[-1:])]
    assert fold(interleaved, direct, rolled).new_ranges == {"ETHUSDT": [(1000, 1059)]}
    # a real hole (id 1030 absent) amid interleaved groups: only the rows can say where
    gap = [t for t in trades if t[1] != 1030]
    holey = [group_of(gap[0::2], bucket=1), group_of(gap[1::2], bucket=2)]
    assert fold(holey, direct, rolled).new_ranges is None
    # a hole between contiguous groups is placed exactly; another symbol's holes are its own
    other = trades_of("BTCUSDT", 10, seed=5)
    runs = fold([group_of(trades[:20]), group_of(trades[40:]), group_of(other)], direct, rolled)
    assert runs.new_ranges == {"ETHUSDT": [(1000, 1019), (1040, 1059)], "BTCUSDT": [(1000, 1009)]}


def test_late_rejected_and_traced_rows_come_back_one_by_one() -> None:
    base: dict[str, Any] = {
        "symbol": "BTCUSDT",
        window_key(ONE_S): None,
        "bucket": None,
        "n": 1,
        "max_time_us": T0,
        "lo": 7,
        "hi": 7,
    }
    row: dict[str, Any] = {
        "topic": "t",
        "partition": 1,
        "offset": 9,
        "raw": None,
        "raw_size": None,
        "reason": None,
        "detail": None,
        "watermark_us": T0 + 5,
        "traceparent": None,
        "trade_id": 7,
        "price": Decimal("1.5"),
        "quantity": Decimal(2),
        "trade_time_us": T0,
        "is_buyer_maker": True,
    }
    late = {**base, "status": "late", "row": row}
    rejected = {
        **base,
        "symbol": None,
        "status": "rejected",
        "max_time_us": None,
        "row": {
            **row,
            "offset": 3,
            "reason": "not_json",
            "detail": "x",
            "raw": b"{",
            "raw_size": 1,
        },
    }
    traced_dup = {
        **base,
        "status": "duplicate",
        "row": {**row, "offset": 4, "traceparent": "00-abc-def-01"},
    }
    direct, rolled = rollup_plan([ONE_S])

    s = fold([late, rejected, traced_dup], direct, rolled)

    assert s.by_status == {"late": 1, "rejected": 1, "duplicate": 1}
    assert [(x.symbol, x.trade_id, x.watermark_us, x.offset) for x in s.late] == [
        ("BTCUSDT", 7, T0 + 5, 9)
    ]
    assert [(x.reason, x.raw, x.offset) for x in s.rejected] == [(DlqReason.NOT_JSON, b"{", 3)]
    assert [(x.status, x.traceparent, x.offset) for x in s.traced] == [
        ("duplicate", "00-abc-def-01", 4)
    ]
    assert s.candles == [] and s.new_ranges == {}
    assert s.symbol_max_time_us == {"BTCUSDT": T0}


def test_latency_buckets_add_up_over_groups() -> None:
    trades = trades_of("SOLUSDT", 30, seed=5)
    direct, rolled = rollup_plan([ONE_S])
    groups = [
        group_of(trades[:10], bucket=T0 + 5_000),
        group_of(trades[10:20], bucket=T0 + 5_000),
        group_of(trades[20:], bucket=T0 + 15_000),
    ]
    assert fold(groups, direct, rolled).latency_buckets == [(T0 + 5_000, 20), (T0 + 15_000, 10)]
