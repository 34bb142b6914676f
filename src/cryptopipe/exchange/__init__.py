"""A local Binance spot market-data exchange (WebSocket + REST) written from the documented
protocol (see docs and ../shared/binance.md). Not a mock of our code: it speaks Binance's wire
protocol on loopback, so the producer runs unmodified against it. The tests, the load tests and
the chaos experiments use it; its fault controls are the exchange faults they inject."""

from cryptopipe.exchange.emulator import BinanceEmulator
from cryptopipe.exchange.trade import EmulatedTrade

__all__ = ["BinanceEmulator", "EmulatedTrade"]
