"""Settings of `cryptopipe run` (env prefix CRYPTOPIPE_, see cryptopipe.config)."""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import Field

from cryptopipe.producer.settings import Source
from cryptopipe.stack.settings import StackSettings

logger = logging.getLogger(__name__)


class RunSettings(StackSettings):
    """The local stack plus what `cryptopipe run` starts on it; built once in the command.

    ``source``, ``symbols``, ``rate`` and ``replay_file`` are the producer's own settings (same
    names, so ``CRYPTOPIPE_RATE`` means one thing); only the defaults differ (the run defaults
    to synthetic trades at 500/s). The run's own timings carry a ``run_`` prefix so that they
    never reach the services it starts (``CRYPTOPIPE_DURATION_S`` would stop the producer).
    """

    source: Source = Field("synthetic", description="Trade source for the producer.")
    symbols: str | None = Field(None, description="Comma-separated symbols; unset: the producer's.")
    rate: float = Field(500.0, gt=0, description="synthetic: trades per second (all symbols).")
    replay_file: Path | None = Field(None, description="replay: JSON lines of raw frames.")
    run_duration_s: float = Field(0.0, ge=0, description="Stop after N seconds (0: Ctrl-C).")
    run_interval_s: float = Field(2.0, gt=0, description="Seconds between progress lines.")
    run_drain_s: float = Field(
        90.0, ge=0, description="At the end, wait this long for the processor to commit it all."
    )
    run_down: bool = Field(False, description="Also stop the stack at the end.")
