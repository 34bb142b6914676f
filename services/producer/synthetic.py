"""A seeded, deterministic synthetic market that speaks Binance's ``@trade`` payload format.

Pure: no Kafka, no clock, no I/O. The same configuration (seed included) always yields the same
payload bytes, so load tests and end-to-end tests can regenerate exactly what was produced.

- per-symbol prices move by a random walk on the symbol's tick size (never below one tick);
- quantities are whole multiples of the symbol's lot step;
- arrivals are a Poisson process at ``rate`` trades/s over all symbols (exponential gaps), with
  optional bursts (``burst_multiplier`` times the rate for ``burst_duration_s`` every
  ``burst_every_s``);
- trade ids are contiguous per symbol from ``first_trade_id``;
- times are ``start_time_us`` + the virtual arrival time, in ms (Binance's default) or µs.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, NamedTuple

_SCALE = 10**8  # Binance prints prices/quantities with 8 decimals


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """Realistic-looking starting price and exchange filters for one symbol."""

    start_price: str
    tick_size: str  # PRICE_FILTER tickSize
    step_size: str  # LOT_SIZE stepSize
    max_steps: int  # quantity = (1..max_steps) * step_size


KNOWN_SPECS: dict[str, SymbolSpec] = {
    "BTCUSDT": SymbolSpec("65000.00", "0.01", "0.00001", 20000),
    "ETHUSDT": SymbolSpec("3200.00", "0.01", "0.0001", 20000),
    "SOLUSDT": SymbolSpec("150.00", "0.01", "0.001", 20000),
    "BNBUSDT": SymbolSpec("600.00", "0.01", "0.001", 5000),
    "XRPUSDT": SymbolSpec("0.5000", "0.0001", "0.1", 20000),
}
DEFAULT_SPEC = SymbolSpec("100.00", "0.01", "0.001", 10000)


def spec_for(symbol: str) -> SymbolSpec:
    return KNOWN_SPECS.get(symbol.upper(), DEFAULT_SPEC)


def _to_units(text: str) -> int:
    """Exact decimal string -> integer count of 1e-8."""
    units = Decimal(text) * _SCALE
    if units != units.to_integral_value() or units <= 0:
        raise ValueError(f"{text} is not a positive multiple of 1e-8")
    return int(units)


@dataclass(frozen=True, slots=True)
class SyntheticConfig:
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    rate: float = 1000.0
    seed: int = 42
    start_time_us: int = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
    first_trade_id: int = 1
    time_unit: Literal["ms", "us"] = "ms"
    combined: bool = False
    burst_every_s: float = 0.0
    burst_duration_s: float = 0.0
    burst_multiplier: float = 1.0

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("at least one symbol")
        if self.rate <= 0:
            raise ValueError("rate must be > 0")
        if self.burst_every_s and not 0 < self.burst_duration_s < self.burst_every_s:
            raise ValueError("burst_duration_s must be in (0, burst_every_s)")
        if self.burst_multiplier <= 0:
            raise ValueError("burst_multiplier must be > 0")


class SyntheticTrade(NamedTuple):
    """One generated trade: when it happens (seconds after start) and its Binance payload."""

    offset_s: float
    symbol: str
    trade_id: int
    payload: bytes


class SyntheticMarket:
    """Iterate to get an endless, deterministic stream of :class:`SyntheticTrade`."""

    def __init__(self, config: SyntheticConfig) -> None:
        self.config = config

    def _rate_at(self, t: float) -> float:
        c = self.config
        if c.burst_every_s and (t % c.burst_every_s) < c.burst_duration_s:
            return c.rate * c.burst_multiplier
        return c.rate

    def __iter__(self) -> Iterator[SyntheticTrade]:
        c = self.config
        rng = random.Random(c.seed)
        symbols = [s.upper() for s in c.symbols]
        # Per-symbol mutable state, one list each (faster than several dicts on the hot path):
        # [name, stream prefix, tick units, step units, max steps, current ticks, next id]
        states: list[list[Any]] = []
        for symbol in symbols:
            spec = spec_for(symbol)
            tick = _to_units(spec.tick_size)
            states.append(
                [
                    symbol,
                    f'{{"stream":"{symbol.lower()}@trade","data":',
                    tick,
                    _to_units(spec.step_size),
                    spec.max_steps,
                    _to_units(spec.start_price) // tick,
                    c.first_trade_id,
                ]
            )
        factor = 1000 if c.time_unit == "ms" else 1
        start_us = c.start_time_us
        combined = c.combined
        bursty = bool(c.burst_every_s)
        rate = c.rate
        n_symbols = len(symbols)
        t = 0.0
        rand = rng.random
        expovariate = rng.expovariate
        rate_at = self._rate_at
        while True:
            t += expovariate(rate_at(t) if bursty else rate)
            state = states[int(rand() * n_symbols)]
            symbol = state[0]
            r = rand()
            if r < 0.3:
                if state[5] > 1:
                    state[5] -= 1
            elif r >= 0.7:
                state[5] += 1
            whole, frac = divmod(state[5] * state[2], _SCALE)
            qty_whole, qty_frac = divmod((int(rand() * state[4]) + 1) * state[3], _SCALE)
            trade_id = state[6]
            state[6] = trade_id + 1
            trade_time = (start_us + int(t * 1_000_000)) // factor
            event_time = trade_time + 1 if r < 0.5 else trade_time
            maker = "true" if rand() < 0.5 else "false"
            body = (
                f'{{"e":"trade","E":{event_time},"s":"{symbol}","t":{trade_id},'
                f'"p":"{whole}.{frac:08d}","q":"{qty_whole}.{qty_frac:08d}",'
                f'"T":{trade_time},"m":{maker},"M":true}}'
            )
            if combined:
                body = f"{state[1]}{body}}}"
            yield SyntheticTrade(t, symbol, trade_id, body.encode())
