"""Settings of `cryptopipe produce` (env prefix CRYPTOPIPE_, see cryptopipe.config)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from cryptopipe.config import CommonSettings

DEFAULT_SYMBOLS = "btcusdt,ethusdt,solusdt,bnbusdt,xrpusdt"

Source = Literal["binance", "replay", "synthetic"]
Compression = Literal["lz4", "zstd", "snappy", "gzip", "none"]


class ProducerSettings(CommonSettings):
    """Everything `cryptopipe produce` needs; built once in the command and passed down."""

    source: Source = Field("binance", description="Where trades come from.")
    symbols: str = Field(DEFAULT_SYMBOLS, description="Comma-separated symbols (any case).")

    # Binance endpoints: base only (scheme, host, port); the producer adds the paths.
    binance_ws_url: str = "wss://stream.binance.com:9443"
    binance_rest_url: str = "https://api.binance.com"
    ws_time_unit: Literal["ms", "us"] = Field(
        "ms", description="us asks the stream for timeUnit=MICROSECOND."
    )
    ws_max_streams_per_connection: int = Field(1024, ge=1, le=1024)
    ws_control_messages_per_s: float = Field(
        4.0, gt=0, le=5, description="Own cap on SUBSCRIBE etc. (Binance drops above 5/s)."
    )
    ws_connection_max_age_s: float = Field(
        23.5 * 3600, gt=0, description="Rotate a connection (with overlap) before Binance's 24 h."
    )
    ws_rotation_overlap_s: float = Field(
        10.0, ge=0, description="Old and new connection run side by side this long."
    )
    ws_open_timeout_s: float = 10.0
    ws_ping_interval_s: float = Field(
        30.0, gt=0, description="Our keep-alive pings (besides answering Binance's)."
    )
    ws_ping_timeout_s: float = Field(
        30.0, gt=0, description="No pong within this: the connection is dead, reconnect."
    )
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0
    reconnect_max_per_5min: int = Field(
        250, gt=0, le=300, description="Connection attempts per 5 min (Binance allows 300/IP)."
    )
    rest_timeout_s: float = 10.0
    rest_weight_budget_1m: int = Field(
        3000, gt=0, le=6000, description="Use at most this much of Binance's 6000 weight/min."
    )
    backfill_max_attempts: int = Field(
        8, gt=0, description="REST attempts for one missing range before it is counted lost."
    )
    max_gap_backfill_trades: int = Field(
        200_000,
        gt=0,
        description="Backfill at most this many trades of one gap (the newest); older ones are "
        "counted as unrecoverable.",
    )
    resume: bool = Field(
        True,
        description="binance: keep per-symbol trade ids in the state dir; after a restart, "
        "backfill what was missed while stopped.",
    )
    checkpoint_interval_s: float = Field(1.0, gt=0)
    exchange_info_check: bool = Field(True, description="Check symbols against exchangeInfo.")
    record_file: Path | None = Field(None, description="binance: write raw frames here (.gz ok).")

    # replay
    replay_file: Path | None = Field(None, description="JSON lines of raw frames (.gz ok).")
    replay_speed: float = Field(
        0.0, ge=0, description="1 = real time, N = N times faster, 0 = as fast as possible."
    )

    # synthetic
    rate: float = Field(1000.0, gt=0, description="synthetic: target trades/s (all symbols).")
    count: int | None = Field(None, ge=0, description="Stop after this many trades/frames.")
    duration_s: float | None = Field(None, gt=0, description="Stop after this many seconds.")
    seed: int = 42
    synthetic_start_time_us: int | None = Field(
        None, description="synthetic: time of the first trade; default now."
    )
    synthetic_first_trade_id: int | None = Field(
        None,
        ge=0,
        description="synthetic: first trade id of every symbol; default the start time in "
        "microseconds, so runs on the same topic never reuse ids.",
    )
    burst_every_s: float = 0.0
    burst_duration_s: float = 0.0
    burst_multiplier: float = 1.0

    # normalizer
    max_frame_bytes: int = Field(16 * 1024, gt=0)
    max_future_s: float = Field(86400.0, gt=0, description="Reject times this far ahead.")

    # Kafka producer
    kafka_compression: Compression = "lz4"
    kafka_linger_ms: int = 20
    kafka_batch_bytes: int = 1_000_000
    queue_max_messages: int = Field(
        200_000, gt=0, description="Bounded client queue: backpressure when full."
    )
    queue_max_kbytes: int = Field(256 * 1024, gt=0)
    delivery_timeout_ms: int = Field(
        120_000, gt=0, description="librdkafka retries a message this long, then reports failure."
    )
    backpressure_timeout_s: float = Field(
        180.0, gt=0, description="Queue full this long (Kafka down): fail loudly, exit non-zero."
    )
    flush_timeout_s: float = 30.0

    @field_validator("symbols")
    @classmethod
    def _check_symbols(cls, value: str) -> str:
        items = [s.strip() for s in value.split(",") if s.strip()]
        if not items:
            raise ValueError("at least one symbol")
        for item in items:
            if not item.isalnum():
                raise ValueError(f"bad symbol {item!r}")
        return ",".join(items)

    @model_validator(mode="after")
    def _check_source(self) -> ProducerSettings:
        if self.source == "replay" and self.replay_file is None:
            raise ValueError("--source replay needs --replay-file (CRYPTOPIPE_REPLAY_FILE)")
        for name in ("binance_ws_url", "binance_rest_url"):
            url: str = getattr(self, name)
            if "://" not in url or url.rstrip("/").count("/") > 2:
                raise ValueError(f"{name} is a base URL (scheme://host[:port]), got {url!r}")
            setattr(self, name, url.rstrip("/"))
        return self

    @property
    def symbol_list(self) -> tuple[str, ...]:
        """Upper-case symbols, deduplicated, in the given order."""
        return tuple(dict.fromkeys(s.upper() for s in self.symbols.split(",")))
