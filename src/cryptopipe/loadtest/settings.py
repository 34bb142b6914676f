"""Settings of `cryptopipe loadtest`: flags, CRYPTOPIPE_LOADTEST_* variables and the
``[tool.cryptopipe.loadtest]`` table of ./pyproject.toml, in that order of precedence (like
Locust's own flags, LOCUST_* variables and its config file)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    PyprojectTomlConfigSettingsSource,
    SettingsConfigDict,
)

from cryptopipe.config import ENV_PREFIX
from cryptopipe.loadtest.shapes import ShapeName, parse_duration

LOADTEST_ENV_PREFIX = f"{ENV_PREFIX}LOADTEST_"
PYPROJECT_TABLE = ("tool", "cryptopipe", "loadtest")
Target = Literal["exchange", "kafka"]


class LoadtestSettings(BaseSettings):
    """One load test run; built once by the command and handed to Locust's process as env."""

    model_config = SettingsConfigDict(
        env_prefix=LOADTEST_ENV_PREFIX,
        extra="ignore",
        case_sensitive=False,
        pyproject_toml_table_header=PYPROJECT_TABLE,
    )

    shape: ShapeName = Field("steady", description="steady | step | spike | soak.")
    rate: float = Field(2000.0, gt=0, description="Trades/s (step: the first step; spike: base).")
    duration: str = Field("30s", description="How long (30s, 5m, 1h; a bare number is seconds).")
    target: Target = Field(
        "exchange",
        description="exchange: through the local Binance exchange and `cryptopipe produce "
        "--source binance`; kafka: straight onto crypto.trades (processor and MySQL alone).",
    )
    out: Path = Field(Path("loadtest-results"), description="Output folder of the run.")
    web: bool = Field(False, description="Locust's web UI instead of a headless run.")
    web_port: int = Field(8089, description="--web: the UI's port.")
    malformed_share: float = Field(
        0.0, ge=0, lt=1, description="Share of sent frames that are malformed (go to the DLQ)."
    )
    symbols: int = Field(4, ge=1, le=50, description="Symbols of the run (fresh names each run).")
    seed: int = Field(42, ge=0, description="Seed of the synthetic market.")
    per_user_rate: float = Field(
        1000.0, gt=0, description="Trades/s one Locust user sends at most (users = rate / this)."
    )
    tick_s: float = Field(0.1, gt=0, le=1, description="A user sends its share every tick.")
    e2e_sample_every_s: float = Field(
        1.0, gt=0, description="Sample one trade this often for trade time -> MySQL commit."
    )
    e2e_timeout_s: float = Field(60.0, gt=0, description="A sample not in MySQL by then fails.")
    e2e_slo_s: float = Field(5.0, gt=0, description="The latency SLO's threshold (slo/).")
    step_duration: str = Field("20s", description="step: how long each step lasts.")
    step_factor: float = Field(2.0, gt=1, description="step: each step's rate = last * this.")
    max_rate: float = Field(1_000_000.0, gt=0, description="step: never go above this rate.")
    spike_multiplier: float = Field(40.0, gt=1, description="spike: rate during the spike.")
    spike_at: str = Field("30s", description="spike: when the spike starts.")
    spike_duration: str = Field("1m", description="spike: how long the spike lasts.")
    drain_s: float = Field(120.0, ge=0, description="After the load, wait this long (audited).")
    slo_dir: Path = Field(Path("slo"), description="The SLO specs judged over the run.")
    processor_query_name: str = Field(
        "", description="Spark query name of a processor the command starts (default: per run)."
    )
    progress_interval_s: float = Field(5.0, gt=0, description="Seconds between progress lines.")

    @field_validator("duration", "step_duration", "spike_at", "spike_duration")
    @classmethod
    def _check_duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    def duration_s(self) -> float:
        return parse_duration(self.duration)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            PyprojectTomlConfigSettingsSource(settings_cls, Path("pyproject.toml")),
        )

    def as_env(self) -> dict[str, str]:
        """The same settings as CRYPTOPIPE_LOADTEST_* variables (for Locust's process)."""
        return {
            f"{LOADTEST_ENV_PREFIX}{key.upper()}": str(value).lower()
            if isinstance(value, bool)
            else str(value)
            for key, value in self.model_dump().items()
        }
