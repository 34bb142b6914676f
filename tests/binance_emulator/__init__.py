"""A local Binance spot market-data emulator (WebSocket + REST) written from the documented
protocol (see ../shared/binance.md), for producer tests. Not a mock of our code: it speaks
Binance's wire protocol on loopback, so the producer runs unmodified against it."""

from tests.binance_emulator.server import BinanceEmulator, EmulatedTrade

__all__ = ["BinanceEmulator", "EmulatedTrade"]
