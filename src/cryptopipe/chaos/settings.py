"""Settings of `cryptopipe chaos` and of the experiments' Python providers."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from cryptopipe.exchange.settings import DEFAULT_EXCHANGE_PORT
from cryptopipe.stack.settings import StackSettings

EXCHANGE_TAG = "exchange"  # experiments with this tag need the producer on the exchange


def experiments_dir() -> Path:
    """The experiments shipped with the package (the repo's chaos/ folder)."""
    return Path(__file__).resolve().parent / "experiments"


class ChaosSettings(StackSettings):
    """The local stack's settings (env CRYPTOPIPE_*) plus what the experiments need."""

    brokers: int = Field(
        3,
        description="Kafka brokers of the stack `chaos run` brings up: the broker-loss "
        "experiments need 3 (RF 3, min.insync.replicas 2). A state dir that already holds a "
        "cluster keeps its size.",
    )
    chaos_experiments_dir: Path = Field(
        default_factory=experiments_dir, description="Where `chaos list` finds experiments."
    )
    chaos_journal_dir: Path = Field(
        Path("chaos-journals"), description="Where `chaos run` writes one journal per experiment."
    )
    chaos_symbols: str = Field(
        "CHAOSAUSDT,CHAOSBUSDT",
        description="Symbols of the synthetic load the experiments run under (audited after).",
    )
    chaos_rate: float = Field(300.0, gt=0, description="Synthetic trades/s during experiments.")
    chaos_audit_wait_s: float = Field(
        300.0, gt=0, description="How long the completeness probe waits for catch-up."
    )
    chaos_steady_timeout_s: float = Field(
        900.0,
        gt=0,
        description="How long `chaos run` waits for the pipeline to commit and for pages "
        "to resolve before the first experiment.",
    )
    chaos_source: Literal["synthetic", "exchange"] = Field(
        "synthetic",
        description="The load of the pipeline under test: the producer's synthetic source, or "
        "the served exchange (`cryptopipe exchange serve`, at chaos_rate) read with --source "
        "binance, so exchange faults reach the real producer. `chaos run` picks exchange when "
        f"an experiment is tagged {EXCHANGE_TAG!r}.",
    )
    exchange_port: int = Field(
        DEFAULT_EXCHANGE_PORT, description="The served exchange's port (its CRYPTOPIPE_ setting)."
    )
    chaos_max_lag_offsets: int = Field(
        2000,
        gt=0,
        description="Lag (offsets behind) that counts as caught up: about one trigger's worth.",
    )

    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}"

    def exchange_url(self) -> str:
        return f"http://127.0.0.1:{self.exchange_port}"

    def symbol_set(self) -> list[str]:
        return [s.strip().upper() for s in self.chaos_symbols.split(",") if s.strip()]
