"""One trade of the exchange, as its WebSocket stream and its REST API print it, and the
history REST serves (oldest first, ids increasing per symbol)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class EmulatedTrade:
    symbol: str
    trade_id: int
    price: str  # exact decimal strings, as Binance prints them
    qty: str
    time_us: int
    is_buyer_maker: bool

    def stream_payload(self, micro: bool) -> dict[str, Any]:
        t = self.time_us if micro else self.time_us // 1000
        return {
            "e": "trade",
            "E": t + (1000 if micro else 1),
            "s": self.symbol,
            "t": self.trade_id,
            "p": self.price,
            "q": self.qty,
            "T": t,
            "m": self.is_buyer_maker,
            "M": True,
        }

    def rest_record(self) -> dict[str, Any]:
        return {
            "id": self.trade_id,
            "price": self.price,
            "qty": self.qty,
            "quoteQty": str(Decimal(self.price) * Decimal(self.qty)),
            "time": self.time_us // 1000,
            "isBuyerMaker": self.is_buyer_maker,
            "isBestMatch": True,
        }


def page(trades: list[EmulatedTrade], from_id: int | None, limit: int) -> list[EmulatedTrade]:
    """historicalTrades: ``limit`` trades from ``from_id`` (the newest without it)."""
    if from_id is None:
        return trades[-limit:]
    start = bisect.bisect_left(trades, from_id, key=lambda t: t.trade_id)
    return trades[start : start + limit]


def trim(trades: list[EmulatedTrade], before_us: int) -> int:
    """Forget the trades older than ``before_us`` (REST no longer serves them); how many."""
    cut = bisect.bisect_left(trades, before_us, key=lambda t: t.time_us)
    del trades[:cut]
    return cut
