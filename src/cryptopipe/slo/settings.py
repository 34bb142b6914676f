"""Settings of `cryptopipe slo` (env prefix CRYPTOPIPE_)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cryptopipe.config import ENV_PREFIX


class SLOSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", case_sensitive=False)

    slo_period: Literal["7d", "28d", "30d"] = Field(
        "30d", description="Period of Sloth specs (OpenSLO specs carry their own)."
    )
    promtool: str | None = Field(None, description="promtool binary (default: on PATH).")
    prometheus_url: str | None = Field(
        None, description="Prometheus for `slo status` (default: the local stack's)."
    )
