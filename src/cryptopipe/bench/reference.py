"""The exact 1 m candles of a backlog, and a row-by-row comparison with a system's candles.

The reference every processor-stage system is judged against: open and close are the first and
last trade by (trade time, trade id), high/low/volume are exact decimals, the count is the
number of trades. Pure: no Kafka, no MySQL. A system's rows are compared field by field after
reading each value as the exact decimal it stands for (a float as its shortest repr, the
number a person reading the table sees), so a fast wrong answer shows as wrong.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

import orjson

WINDOW_US = 60_000_000  # 1 m candles
CandleKey = tuple[str, int]  # symbol, window start (µs since the epoch, UTC)
FIELDS = ("open", "high", "low", "close", "volume", "trade_count")
MAX_EXAMPLES = 3


class RefTrade(NamedTuple):
    """What a candle needs of one trade (prices and quantities as their exact text)."""

    symbol: str
    trade_id: int
    trade_time_us: int
    price: str
    quantity: str

    @classmethod
    def from_value(cls, value: bytes) -> RefTrade:
        """A normalized trade as it is on the topic (schema v1 JSON)."""
        t = orjson.loads(value)
        return cls(t["symbol"], t["trade_id"], t["trade_time_us"], t["price"], t["quantity"])


@dataclass(frozen=True, slots=True)
class Candle:
    """One 1 m candle as a system stored it, or as the reference computes it."""

    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trade_count: int


@dataclass(slots=True)
class _Fold:
    open_rank: tuple[int, int]
    close_rank: tuple[int, int]
    open: Decimal
    close: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal
    count: int


def reference_candles(
    trades: Iterable[RefTrade], window_us: int = WINDOW_US
) -> dict[CandleKey, Candle]:
    """The exact candle of every (symbol, window) the trades fall in, in any input order."""
    folds: dict[CandleKey, _Fold] = {}
    for t in trades:
        key = (t.symbol, t.trade_time_us // window_us * window_us)
        rank = (t.trade_time_us, t.trade_id)
        price, quantity = Decimal(t.price), Decimal(t.quantity)
        f = folds.get(key)
        if f is None:
            folds[key] = _Fold(rank, rank, price, price, price, price, quantity, 1)
            continue
        if rank < f.open_rank:
            f.open_rank, f.open = rank, price
        if rank > f.close_rank:
            f.close_rank, f.close = rank, price
        f.high = max(f.high, price)
        f.low = min(f.low, price)
        f.volume += quantity
        f.count += 1
    return {k: Candle(f.open, f.high, f.low, f.close, f.volume, f.count) for k, f in folds.items()}


def as_decimal(value: Any) -> Decimal:
    """A stored value as the exact number it stands for: a DECIMAL as is, a float (a DOUBLE
    column) as its shortest repr, so 0.1 stays 0.1 and 1234.5600000000002 stays that."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError(f"not a number: {value!r}")
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int | str):
        return Decimal(value)
    raise TypeError(f"not a number: {value!r}")


def stored_candle(values: Mapping[str, Any]) -> Candle:
    """A candle from one stored row's FIELDS (any numeric column types)."""
    count = as_decimal(values["trade_count"])
    if count != count.to_integral_value():
        raise ValueError(f"trade_count {count} is not a whole number")
    o, h, lo, c, v = (as_decimal(values[name]) for name in FIELDS[:-1])
    return Candle(o, h, lo, c, v, int(count))


def window_text(start_us: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(start_us // 1_000_000))


@dataclass(slots=True)
class Comparison:
    """How a system's candles compare with the reference, window by window."""

    expected: int = 0
    matched: int = 0
    differed: int = 0  # present, one or more fields not equal
    missing: int = 0  # in the reference, not stored
    extra: int = 0  # stored for a window the reference has no trades in
    duplicated: int = 0  # windows stored more than once (an append sink)
    field_differences: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.expected > 0 and self.matched == self.expected and not self.extra

    def _example(self, text: str) -> None:
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(text)

    def describe(self) -> str:
        if self.ok:
            return f"all {self.expected} candles equal the exact reference"
        parts = [f"{self.expected - self.matched} of {self.expected} candles wrong"]
        if self.differed:
            fields = ", ".join(f"{k} {v}" for k, v in sorted(self.field_differences.items()))
            parts.append(f"{self.differed} with fields differing ({fields})")
        for label, n in (
            ("missing", self.missing),
            ("stored more than once", self.duplicated),
            ("extra windows", self.extra),
        ):
            if n:
                parts.append(f"{n} {label}")
        text = "; ".join(parts)
        if self.examples:
            text += "; e.g. " + " | ".join(self.examples)
        return text


def _differences(key: CandleKey, got: Candle, want: Candle) -> list[tuple[str, str]]:
    out = []
    for name in FIELDS:
        g, w = getattr(got, name), getattr(want, name)
        if g != w:
            out.append((name, f"{name} {g} (exact {w})"))
    return out


def compare(
    expected: Mapping[CandleKey, Candle], stored: Iterable[tuple[CandleKey, Candle]]
) -> Comparison:
    """Every stored row against the reference; a window stored twice is wrong even if one of
    its rows is right (a reader cannot tell which one is)."""
    rows: dict[CandleKey, list[Candle]] = {}
    for key, candle in stored:
        rows.setdefault(key, []).append(candle)
    out = Comparison(expected=len(expected))
    for key in sorted(set(expected) | set(rows)):
        want, got = expected.get(key), rows.get(key, [])
        where = f"{key[0]} {window_text(key[1])}"
        if want is None:
            out.extra += 1
            out._example(f"{where}: stored, but no trades in that window")
        elif not got:
            out.missing += 1
            out._example(f"{where}: missing")
        elif len(got) > 1:
            out.duplicated += 1
            out._example(f"{where}: {len(got)} rows")
        else:
            diffs = _differences(key, got[0], want)
            if not diffs:
                out.matched += 1
                continue
            out.differed += 1
            for name, _ in diffs:
                out.field_differences[name] = out.field_differences.get(name, 0) + 1
            out._example(f"{where}: " + ", ".join(text for _, text in diffs))
    return out
