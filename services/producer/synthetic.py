"""A seeded, deterministic synthetic market that speaks Binance's ``@trade`` payload format.

Pure: no Kafka, no clock, no I/O. The same configuration (seed included) always yields the same
payload bytes, so load tests and end-to-end tests can regenerate exactly what was produced. The
random numbers are drawn in chunks with numpy (PCG64, seeded), so only the text formatting runs
per trade in Python: this source has to outrun a 100k trades/s producer on the same core.

- per-symbol prices move by a random walk on the symbol's tick size (never below one tick);
- quantities are whole multiples of the symbol's lot step;
- arrivals are a Poisson process at ``rate`` trades/s over all symbols (exponential gaps), with
  optional bursts (``burst_multiplier`` times the rate for ``burst_duration_s`` every
  ``burst_every_s``; the rate is piecewise constant, exactly);
- trade ids are contiguous per symbol from ``first_trade_id``;
- times are ``start_time_us`` + the virtual arrival time, in ms (Binance's default) or µs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

_SCALE = 10**8  # Binance prints prices/quantities with 8 decimals
_CHUNK = 1024  # trades drawn at a time
_CACHE_ENTRIES = 65536  # price/quantity texts kept per symbol


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
        if self.seed < 0:
            raise ValueError("seed must be >= 0")


class SyntheticTrade(NamedTuple):
    """One generated trade: when it happens (seconds after start) and its Binance payload."""

    offset_s: float
    symbol: str
    trade_id: int
    payload: bytes


class _SymbolState:
    """One symbol's walk and id counter, plus its text caches (prices and quantities repeat)."""

    __slots__ = (
        "fields",
        "max_steps",
        "next_id",
        "prices",
        "quantities",
        "step",
        "stream",
        "tick",
        "ticks",
    )

    def __init__(self, symbol: str, first_trade_id: int) -> None:
        spec = spec_for(symbol)
        self.tick = _to_units(spec.tick_size)
        self.step = _to_units(spec.step_size)
        self.max_steps = spec.max_steps
        self.ticks = _to_units(spec.start_price) // self.tick
        self.next_id = first_trade_id
        self.fields = f',"s":"{symbol}","t":'  # the JSON between the event time and the id
        self.stream = f'{{"stream":"{symbol.lower()}@trade","data":'
        self.prices: dict[int, str] = {}
        self.quantities: dict[int, str] = {}

    def walk(self, moves: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Apply -1/0/+1 tick moves in order, never below one tick; return each new price."""
        path = self.ticks + np.cumsum(moves)
        if path.size and path.min() < 1:  # rare: a walk that reaches the floor, step by step
            ticks = self.ticks
            for i, move in enumerate(moves.tolist()):
                ticks = max(1, ticks + move)
                path[i] = ticks
        if path.size:
            self.ticks = int(path[-1])
        return path

    def price_text(self, ticks: int) -> str:
        return _cached_text(self.prices, ticks, self.tick)

    def quantity_text(self, steps: int) -> str:
        return _cached_text(self.quantities, steps, self.step)


class SyntheticMarket:
    """Iterate to get an endless, deterministic stream of :class:`SyntheticTrade`."""

    def __init__(self, config: SyntheticConfig) -> None:
        self.config = config

    def __iter__(self) -> Iterator[SyntheticTrade]:
        return map(SyntheticTrade._make, self.frames())

    def _arrivals(self, rng: np.random.Generator) -> Iterator[npt.NDArray[np.float64]]:
        """Arrival times in seconds, a chunk at a time: a Poisson process whose rate is
        piecewise constant (bursts). At a rate change the pending gap is drawn afresh at the new
        rate from the boundary (exponential gaps are memoryless, so this is exact)."""
        c = self.config
        t = 0.0
        if not c.burst_every_s:
            while True:
                times = t + np.cumsum(rng.standard_exponential(_CHUNK)) / c.rate
                t = float(times[-1])
                yield times
        in_burst, period_start = True, 0.0
        while True:
            horizon = period_start + (c.burst_duration_s if in_burst else c.burst_every_s)
            rate = c.rate * c.burst_multiplier if in_burst else c.rate
            times = t + np.cumsum(rng.standard_exponential(_CHUNK)) / rate
            n = int(np.searchsorted(times, horizon))
            if n < _CHUNK:
                t = horizon
                if not in_burst:
                    period_start += c.burst_every_s
                in_burst = not in_burst
            else:
                t = float(times[-1])
            if n:
                yield times[:n]

    def frames(self) -> Iterator[tuple[float, str, int, bytes]]:
        """The same stream as iterating, as plain ``(offset_s, symbol, trade_id, payload)``
        tuples: the producer's hot path (no NamedTuple per trade)."""
        c = self.config
        rng = np.random.default_rng(c.seed)
        symbols = [s.upper() for s in c.symbols]
        states = [_SymbolState(symbol, c.first_trade_id) for symbol in symbols]
        max_steps = np.array([state.max_steps for state in states], dtype=np.int64)
        factor = 1000 if c.time_unit == "ms" else 1
        combined = c.combined
        for times in self._arrivals(rng):
            n = times.size
            which = rng.integers(0, len(states), n)
            r = rng.random(n)  # price move (< 0.3 down, >= 0.7 up); event time + 1 if < 0.5
            steps = (rng.random(n) * max_steps[which]).astype(np.int64) + 1
            makers = rng.random(n) < 0.5
            moves = (r >= 0.7).astype(np.int64) - (r < 0.3)
            ticks = np.empty(n, dtype=np.int64)
            ids = np.empty(n, dtype=np.int64)
            for index, state in enumerate(states):
                mine = which == index
                count = int(np.count_nonzero(mine))
                if count:
                    ticks[mine] = state.walk(moves[mine])
                    ids[mine] = np.arange(state.next_id, state.next_id + count)
                    state.next_id += count
            trade_times = (c.start_time_us + (times * 1_000_000).astype(np.int64)) // factor
            event_times = trade_times + (r < 0.5)
            for offset, index, tick, step, trade_id, trade_time, event_time, maker in zip(
                times.tolist(),
                which.tolist(),
                ticks.tolist(),
                steps.tolist(),
                ids.tolist(),
                trade_times.tolist(),
                event_times.tolist(),
                makers.tolist(),
                strict=True,
            ):
                state = states[index]
                price = state.prices.get(tick) or state.price_text(tick)
                quantity = state.quantities.get(step) or state.quantity_text(step)
                body = (
                    f'{{"e":"trade","E":{event_time}{state.fields}{trade_id},'
                    f'"p":"{price}","q":"{quantity}",'
                    f'"T":{trade_time},"m":{"true" if maker else "false"},"M":true}}'
                )
                if combined:
                    body = f"{state.stream}{body}}}"
                yield offset, symbols[index], trade_id, body.encode()


def _cached_text(cache: dict[int, str], count: int, unit: int) -> str:
    """The text of ``count`` units of ``unit`` (1e-8 each), remembered in ``cache``."""
    text = cache.get(count)
    if text is None:
        if len(cache) >= _CACHE_ENTRIES:
            cache.clear()
        text = cache[count] = _units_text(count * unit)
    return text


def _units_text(units: int) -> str:
    """A count of 1e-8 as Binance prints it: 8 decimals."""
    whole, frac = divmod(units, _SCALE)
    return f"{whole}.{frac:08d}"
