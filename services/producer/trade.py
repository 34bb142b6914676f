"""The normalized trade, schema version 1 (see docs/trade-schema-v1.md).

This is the only shape that goes onto ``crypto.trades``: one JSON object per Kafka message, key =
upper-case symbol. Prices and quantities are exact, normalised decimal strings, never floats.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

SCHEMA_VERSION = 1
EXCHANGE = "binance"


@dataclass(slots=True)
class Trade:
    """One normalized trade (schema v1). Treat as immutable (not frozen: that is 2x slower)."""

    symbol: str
    trade_id: int
    price: str
    quantity: str
    trade_time_us: int
    event_time_us: int
    ingest_time_us: int
    is_buyer_maker: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "v": SCHEMA_VERSION,
            "exchange": EXCHANGE,
            "symbol": self.symbol,
            "trade_id": self.trade_id,
            "price": self.price,
            "quantity": self.quantity,
            "trade_time_us": self.trade_time_us,
            "event_time_us": self.event_time_us,
            "ingest_time_us": self.ingest_time_us,
            "is_buyer_maker": self.is_buyer_maker,
        }

    def to_json(self) -> bytes:
        """The Kafka value: compact JSON, keys in schema order.

        Hand-built for speed (the hot path): every string field was validated by the
        normalizer to hold only ``[A-Z0-9.]``, so nothing needs escaping. ``to_json_slow`` is
        the reference the unit tests compare against.
        """
        return (
            f'{{"v":1,"exchange":"binance","symbol":"{self.symbol}","trade_id":{self.trade_id},'
            f'"price":"{self.price}","quantity":"{self.quantity}",'
            f'"trade_time_us":{self.trade_time_us},"event_time_us":{self.event_time_us},'
            f'"ingest_time_us":{self.ingest_time_us},'
            f'"is_buyer_maker":{"true" if self.is_buyer_maker else "false"}}}'
        ).encode()

    def to_json_slow(self) -> bytes:
        return orjson.dumps(self.to_dict())

    def key(self) -> bytes:
        """The Kafka key: the upper-case symbol."""
        return self.symbol.encode()
