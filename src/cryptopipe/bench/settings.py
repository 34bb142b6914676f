"""Settings of `cryptopipe bench` (flags or CRYPTOPIPE_BENCH_* variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cryptopipe.config import ENV_PREFIX

BENCH_ENV_PREFIX = f"{ENV_PREFIX}BENCH_"


class BenchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=BENCH_ENV_PREFIX, extra="ignore")

    quick: bool = Field(False, description="Size every stage to finish in about two minutes.")
    out: Path = Field(Path("bench-results"), description="Output folder of the run.")
    seed: int = Field(7, ge=0, description="Seed of the generated trades every system gets.")
    docs: Path | None = Field(
        None, description="Also write this Markdown page (docs/benchmarks.md) from the run."
    )
