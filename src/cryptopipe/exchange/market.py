"""A steady synthetic market on the exchange: trades of cryptopipe.producer.synthetic (the
seeded random walk on each symbol's tick size, exact decimal strings) paced in real time, each
recorded for REST and sent to the subscribed streams, with the history trimmed to its
retention."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import orjson

from cryptopipe.exchange.emulator import BinanceEmulator
from cryptopipe.exchange.trade import EmulatedTrade
from cryptopipe.producer.synthetic import SyntheticConfig, SyntheticMarket

logger = logging.getLogger(__name__)

TICK_S = 0.05  # trades due are sent every 50 ms


def synthetic_trades(
    symbols: list[str], rate: float, seed: int, start_us: int, first_trade_id: int
) -> Iterator[tuple[float, EmulatedTrade]]:
    """(seconds after start, trade), endless: the synthetic source's payloads, in µs."""
    config = SyntheticConfig(
        symbols=tuple(symbols),
        rate=rate,
        seed=seed,
        start_time_us=start_us,
        first_trade_id=first_trade_id,
        time_unit="us",
    )
    for offset, symbol, trade_id, payload in SyntheticMarket(config).frames():
        body = orjson.loads(payload)
        yield offset, EmulatedTrade(symbol, trade_id, body["p"], body["q"], body["T"], body["m"])


class Market:
    """Feeds ``emulator`` at ``rate`` trades/s (all symbols) until stopped."""

    def __init__(self, emulator: BinanceEmulator, rate: float, seed: int, history_s: float) -> None:
        self.emulator = emulator
        self.rate = rate
        self.seed = seed
        self.history_s = history_s  # REST serves this many seconds back; set live by a control
        self.default_history_s = history_s
        self.generated = 0

    async def run(self) -> None:
        start_us = time.time_ns() // 1000
        t0 = time.monotonic()
        trades = synthetic_trades(self.emulator.symbols, self.rate, self.seed, start_us, start_us)
        pending = next(trades)
        next_trim = t0
        while True:
            elapsed = time.monotonic() - t0
            while pending[0] <= elapsed:
                await self.emulator.add(pending[1])
                self.generated += 1
                pending = next(trades)
            now = time.monotonic()
            if now >= next_trim:
                self.emulator.forget_before(time.time_ns() // 1000 - int(self.history_s * 1e6))
                next_trim = now + 1.0
            await asyncio.sleep(TICK_S)
