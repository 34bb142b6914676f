"""Settings of `cryptopipe exchange serve` (env prefix CRYPTOPIPE_)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cryptopipe.config import ENV_PREFIX

DEFAULT_EXCHANGE_PORT = 9443


class ExchangeSettings(BaseSettings):
    """The exchange as a service: where it listens, what it trades, how fast."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", case_sensitive=False)

    exchange_host: str = Field("127.0.0.1", description="Address the exchange binds.")
    exchange_port: int = Field(
        DEFAULT_EXCHANGE_PORT, ge=1, le=65535, description="WebSocket, REST and control port."
    )
    exchange_symbols: str = Field("BTCUSDT,ETHUSDT", description="Comma-separated symbols.")
    exchange_rate: float = Field(
        300.0, ge=0, description="Synthetic trades/s over all symbols (0: no market of its own)."
    )
    exchange_seed: int = Field(42, ge=0, description="Seed of the synthetic market.")
    exchange_history_s: float = Field(
        3600.0, gt=0, description="REST historicalTrades serves this many seconds back."
    )
    exchange_ping_interval_s: float = Field(
        20.0, gt=0, description="Server pings on every connection (Binance: 20 s)."
    )

    @field_validator("exchange_symbols")
    @classmethod
    def _check_symbols(cls, value: str) -> str:
        items = [s.strip().upper() for s in value.split(",") if s.strip()]
        if not items or not all(s.isalnum() for s in items):
            raise ValueError(f"comma-separated alphanumeric symbols, got {value!r}")
        return ",".join(items)

    @property
    def symbol_list(self) -> list[str]:
        return self.exchange_symbols.split(",")

    def base_url(self) -> str:
        """REST and control base URL (the WebSocket base is the same with ws://)."""
        return f"http://{self.exchange_host}:{self.exchange_port}"
