"""The data every system of a stage gets: the same generated trades (symbols, count, seed).

Trades come from the synthetic market the producer uses (`cryptopipe.producer.synthetic`), as
Binance frames (producer stage) or normalized schema-v1 messages (processor stage), so a peer
never gets an easier or different stream than ours.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from cryptopipe.producer.normalize import Rejection, normalize_frame
from cryptopipe.producer.synthetic import SyntheticConfig, SyntheticMarket
from cryptopipe.producer.trade import Trade

DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT")
START_TIME_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
UNPACED = 100_000_000.0  # trades/s: the producer stage sends as fast as it can
INGEST_DELAY_US = 2_000  # normalized trades: ingest time = trade time + this


@dataclass(frozen=True, slots=True)
class DataSpec:
    """``count`` trades over ``symbols`` from seed ``seed``, spaced as a market of ``rate``
    trades/s (the processor's candles depend on it; the producer stage is unpaced)."""

    count: int
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    seed: int = 7
    rate: float = 1_000.0
    start_time_us: int = START_TIME_US

    def config(self) -> SyntheticConfig:
        return SyntheticConfig(
            symbols=self.symbols, rate=self.rate, seed=self.seed, start_time_us=self.start_time_us
        )

    def describe(self) -> str:
        return (
            f"{self.count:,} trades of {len(self.symbols)} symbols "
            f"({','.join(self.symbols)}), seed {self.seed}"
        )


def frames(spec: DataSpec) -> Iterator[tuple[str, int, bytes]]:
    """(symbol, trade id, raw Binance trade payload) in generation order."""
    for _, symbol, trade_id, payload in islice(SyntheticMarket(spec.config()).frames(), spec.count):
        yield symbol, trade_id, payload


def trades(spec: DataSpec) -> list[Trade]:
    """The normalized trades (what the producer puts on crypto.trades), ingest time fixed."""
    out: list[Trade] = []
    for _, _, payload in frames(spec):
        # the ingest time only bounds the future check here; it is rewritten below
        trade = normalize_frame(payload, symbols=None, ingest_time_us=spec.start_time_us)
        if isinstance(trade, Rejection):  # the synthetic market only makes valid trades
            raise ValueError(f"synthetic trade rejected: {trade}")
        trade.ingest_time_us = trade.trade_time_us + INGEST_DELAY_US
        out.append(trade)
    return out


def encoded(spec: DataSpec) -> list[tuple[bytes, bytes]]:
    """(Kafka key, Kafka value) of every normalized trade: our schema v1, as produced."""
    return [(t.key(), t.to_json()) for t in trades(spec)]
