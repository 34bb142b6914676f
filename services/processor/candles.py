"""Partial candles and how two of them merge.

A partial candle summarises some of the trades of one (symbol, interval, window). Merging is
associative and commutative, so however Spark splits the stream into micro-batches, folding the
partials gives the same candle. The MySQL upsert in :mod:`cryptopipe.processor.sql` implements
exactly :func:`merge`; this module is its specification and the unit-tested reference.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

CandleKey = tuple[str, str, int]

_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class PartialCandle:
    symbol: str
    bar_interval: str
    window_start_us: int
    window_end_us: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trade_count: int
    taker_buy_volume: Decimal
    first_trade_id: int
    last_trade_id: int
    open_trade_time_us: int
    close_trade_time_us: int

    @property
    def key(self) -> CandleKey:
        return (self.symbol, self.bar_interval, self.window_start_us)

    @property
    def open_rank(self) -> tuple[int, int]:
        """Open is the first trade by (trade time, trade id)."""
        return (self.open_trade_time_us, self.first_trade_id)

    @property
    def close_rank(self) -> tuple[int, int]:
        """Close is the last trade by (trade time, trade id)."""
        return (self.close_trade_time_us, self.last_trade_id)


def merge(a: PartialCandle, b: PartialCandle) -> PartialCandle:
    """The candle of the trades of ``a`` and ``b`` (disjoint trade sets of the same window)."""
    if a.key != b.key:
        raise ValueError(f"cannot merge candles of different windows: {a.key} vs {b.key}")
    first = a if a.open_rank <= b.open_rank else b
    last = a if a.close_rank >= b.close_rank else b
    return PartialCandle(
        symbol=a.symbol,
        bar_interval=a.bar_interval,
        window_start_us=a.window_start_us,
        window_end_us=a.window_end_us,
        open=first.open,
        high=max(a.high, b.high),
        low=min(a.low, b.low),
        close=last.close,
        volume=a.volume + b.volume,
        quote_volume=a.quote_volume + b.quote_volume,
        trade_count=a.trade_count + b.trade_count,
        taker_buy_volume=a.taker_buy_volume + b.taker_buy_volume,
        first_trade_id=first.first_trade_id,
        last_trade_id=last.last_trade_id,
        open_trade_time_us=first.open_trade_time_us,
        close_trade_time_us=last.close_trade_time_us,
    )


def merge_all(partials: list[PartialCandle]) -> list[PartialCandle]:
    """Fold partials by key (one per window), keeping the first-seen key order."""
    out: dict[CandleKey, PartialCandle] = {}
    for p in partials:
        prev = out.get(p.key)
        out[p.key] = p if prev is None else merge(prev, p)
    return list(out.values())


def rollup(partials: list[PartialCandle], label: str, size_us: int) -> list[PartialCandle]:
    """Partials of a finer interval -> partials of the interval ``label`` (``size_us`` long,
    a multiple of the finer one): each is re-keyed to its enclosing window and merged."""
    coarse = [
        replace(
            p,
            bar_interval=label,
            window_start_us=p.window_start_us - p.window_start_us % size_us,
            window_end_us=p.window_start_us - p.window_start_us % size_us + size_us,
        )
        for p in partials
    ]
    return merge_all(coarse)


def us_to_datetime(time_us: int) -> datetime:
    """Epoch µs -> naive UTC datetime (what a DATETIME(6) column stores), exact."""
    return _EPOCH + timedelta(microseconds=time_us)


def datetime_to_us(value: datetime) -> int:
    """Naive-UTC (or aware) datetime -> epoch µs, exact."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
