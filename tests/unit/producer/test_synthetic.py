"""The synthetic market: deterministic, Binance-format, on tick/lot sizes, contiguous ids."""

from __future__ import annotations

import itertools
from decimal import Decimal

import numpy as np
import pytest

from cryptopipe.producer.normalize import normalize_frame
from cryptopipe.producer.synthetic import (
    SyntheticConfig,
    SyntheticMarket,
    _SymbolState,
    spec_for,
)
from cryptopipe.producer.trade import Trade

SYMBOLS = ("BTCUSDT", "ETHUSDT", "XRPUSDT")


def take(config: SyntheticConfig, n: int) -> list[bytes]:
    return [t.payload for t in itertools.islice(SyntheticMarket(config), n)]


def test_same_seed_same_bytes_different_seed_different_bytes() -> None:
    config = SyntheticConfig(symbols=SYMBOLS, seed=1)
    assert take(config, 2000) == take(SyntheticConfig(symbols=SYMBOLS, seed=1), 2000)
    assert take(config, 2000) != take(SyntheticConfig(symbols=SYMBOLS, seed=2), 2000)


def test_payloads_normalize_with_contiguous_ids_and_exchange_filters() -> None:
    config = SyntheticConfig(symbols=SYMBOLS, seed=3, first_trade_id=1000)
    trades = []
    for raw in take(config, 5000):
        trade = normalize_frame(
            raw, symbols=frozenset(SYMBOLS), ingest_time_us=config.start_time_us + 10**9
        )
        assert isinstance(trade, Trade)
        trades.append(trade)
    for symbol in SYMBOLS:
        ids = [t.trade_id for t in trades if t.symbol == symbol]
        assert ids == list(range(1000, 1000 + len(ids)))
        assert len(ids) > 1000
        spec = spec_for(symbol)
        for t in (t for t in trades if t.symbol == symbol):
            assert Decimal(t.price) > 0
            assert Decimal(t.price) % Decimal(spec.tick_size) == 0
            assert Decimal(t.quantity) % Decimal(spec.step_size) == 0
    times = [t.trade_time_us for t in trades]
    assert times == sorted(times)


def test_rate_sets_the_virtual_clock() -> None:
    market = SyntheticMarket(SyntheticConfig(symbols=SYMBOLS, rate=10_000, seed=5))
    events = list(itertools.islice(market, 50_000))
    assert 4.8 < events[-1].offset_s < 5.2  # Poisson: 50k trades at 10k/s ~ 5 s


def test_bursts_raise_the_rate_inside_the_burst_window() -> None:
    config = SyntheticConfig(
        symbols=SYMBOLS,
        rate=1000,
        seed=9,
        burst_every_s=1.0,
        burst_duration_s=0.1,
        burst_multiplier=30.0,
    )
    events = list(itertools.islice(SyntheticMarket(config), 20_000))
    in_burst = sum(1 for e in events if e.offset_s % 1.0 < 0.1)
    assert in_burst > 0.7 * len(events)  # 30x for 10% of the time ~ 77% of trades


def test_microsecond_time_unit_and_combined_frames() -> None:
    config = SyntheticConfig(symbols=SYMBOLS, seed=4, time_unit="us", combined=True)
    raw = take(config, 1)[0]
    assert raw.startswith(b'{"stream":"')
    trade = normalize_frame(raw, symbols=None, ingest_time_us=config.start_time_us + 10**9)
    assert isinstance(trade, Trade)
    assert trade.trade_time_us > config.start_time_us


def test_frames_are_the_iterated_trades_as_plain_tuples() -> None:
    config = SyntheticConfig(symbols=SYMBOLS, seed=6, combined=True)
    frames = list(itertools.islice(SyntheticMarket(config).frames(), 3000))
    events = list(itertools.islice(SyntheticMarket(config), 3000))
    assert frames == [tuple(e) for e in events]


def test_price_walk_never_goes_below_one_tick() -> None:
    state = _SymbolState("BTCUSDT", first_trade_id=1)
    state.ticks = 2
    path = state.walk(np.array([-1, -1, -1, 0, 1, -1, 1, 1], dtype=np.int64))
    assert path.tolist() == [1, 1, 1, 1, 2, 1, 2, 3]
    assert state.ticks == 3
    assert state.walk(np.array([1, 1], dtype=np.int64)).tolist() == [4, 5]


def test_ids_stay_contiguous_across_chunks_and_symbols() -> None:
    config = SyntheticConfig(symbols=SYMBOLS, seed=8, first_trade_id=7)
    seen: dict[str, list[int]] = {}
    for _, symbol, trade_id, _ in itertools.islice(SyntheticMarket(config).frames(), 10_000):
        seen.setdefault(symbol, []).append(trade_id)
    assert sorted(seen) == sorted(SYMBOLS)
    for ids in seen.values():
        assert ids == list(range(7, 7 + len(ids)))


def test_negative_seed_is_refused() -> None:
    with pytest.raises(ValueError, match="seed"):
        SyntheticConfig(symbols=SYMBOLS, seed=-1)
