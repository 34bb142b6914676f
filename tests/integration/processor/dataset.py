"""Test trades and an independent Decimal computation of the candles they must give."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import orjson

BASE_TIME_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
INTERVALS_S = {"1s": 1, "1m": 60}


@dataclass(frozen=True)
class T:
    symbol: str
    trade_id: int
    price: str
    quantity: str
    trade_time_us: int
    is_buyer_maker: bool

    def value(self) -> bytes:
        return orjson.dumps(
            {
                "v": 1,
                "exchange": "binance",
                "symbol": self.symbol,
                "trade_id": self.trade_id,
                "price": self.price,
                "quantity": self.quantity,
                "trade_time_us": self.trade_time_us,
                "event_time_us": self.trade_time_us + 700,
                "ingest_time_us": self.trade_time_us + 2_000,
                "is_buyer_maker": self.is_buyer_maker,
            }
        )


def make_trades(
    symbols: list[str], per_symbol: int, span_s: float, seed: int, start_us: int = BASE_TIME_US
) -> list[T]:
    """Per symbol: consecutive ids, nondecreasing times (many equal), random exact decimals."""
    rng = random.Random(seed)
    out: list[T] = []
    step = int(span_s * 1_000_000 / per_symbol)
    for n, sym in enumerate(symbols):
        t = start_us + n * 1_000
        price = Decimal(rng.randint(100_000, 9_000_000)) / 100
        for i in range(per_symbol):
            t += rng.choice([0, 0, step // 2, step, 2 * step])
            price = max(Decimal("0.01"), price + Decimal(rng.randint(-500, 500)) / 100)
            qty = Decimal(rng.randint(1, 10**10)) / Decimal(10**8)
            out.append(
                T(
                    sym,
                    1000 + i,
                    f"{price:.8f}",
                    f"{qty:.8f}",
                    t,
                    rng.random() < 0.45,
                )
            )
    return out


def send_order(trades: list[T], seed: int, block: int = 25) -> list[T]:
    """Roughly time order, shuffled within small blocks: out of order, inside the watermark."""
    rng = random.Random(seed)
    ordered = sorted(trades, key=lambda x: (x.trade_time_us, x.symbol, x.trade_id))
    out: list[T] = []
    for i in range(0, len(ordered), block):
        chunk = ordered[i : i + block]
        rng.shuffle(chunk)
        out.extend(chunk)
    return out


Key = tuple[str, str, int]  # symbol, interval label, window start µs


def expected_candles(trades: list[T]) -> dict[Key, dict[str, object]]:
    """The candles, computed trade by trade with Decimal (no Spark, no SQL)."""
    groups: dict[Key, list[T]] = defaultdict(list)
    for tr in trades:
        for label, seconds in INTERVALS_S.items():
            size = seconds * 1_000_000
            groups[(tr.symbol, label, tr.trade_time_us // size * size)].append(tr)
    out: dict[Key, dict[str, object]] = {}
    for key, ts in groups.items():
        first = min(ts, key=lambda x: (x.trade_time_us, x.trade_id))
        last = max(ts, key=lambda x: (x.trade_time_us, x.trade_id))
        volume = sum((Decimal(x.quantity) for x in ts), Decimal(0))
        quote = sum((Decimal(x.price) * Decimal(x.quantity) for x in ts), Decimal(0))
        vwap = (quote / volume).quantize(Decimal("1e-16"), rounding=ROUND_HALF_UP)
        out[key] = {
            "open": Decimal(first.price),
            "high": max(Decimal(x.price) for x in ts),
            "low": min(Decimal(x.price) for x in ts),
            "close": Decimal(last.price),
            "volume": volume,
            "quote_volume": quote,
            "vwap": vwap,
            "trade_count": len(ts),
            "taker_buy_volume": sum(
                (Decimal(x.quantity) for x in ts if not x.is_buyer_maker), Decimal(0)
            ),
            "first_trade_id": first.trade_id,
            "last_trade_id": last.trade_id,
        }
    return out
