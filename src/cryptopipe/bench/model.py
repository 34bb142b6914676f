"""What a benchmark run measured: systems per stage, their figures with units (pure data)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Stage = Literal["producer", "processor", "e2e"]
STAGES: tuple[Stage, ...] = ("producer", "processor", "e2e")
OURS = "cryptopipe"


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured number and its unit (``trades/s``, ``s``, ``ms``, ``MB`` ...)."""

    name: str
    value: float
    unit: str


@dataclass(slots=True)
class LatencyPoint:
    """End to end at one fixed rate: trade time -> MySQL commit percentiles (seconds)."""

    rate: float
    trades: int
    achieved_rate: float | None
    duration_s: float
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    peak_lag: float | None
    held: bool
    audit_complete: bool | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class SystemResult:
    """One system of one stage run on the stage's data set.

    ``trades_per_s`` is the headline (None when the system could not run: then ``error`` says
    why, e.g. kcat not installed). ``correct`` is whether its output equals the exact reference
    (processor: the candles; producer: every trade acknowledged once), None when not checked.
    """

    stage: Stage
    system: str
    description: str
    trades: int
    seconds: float | None
    trades_per_s: float | None
    correct: bool | None = None
    error: str | None = None
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    points: list[LatencyPoint] = field(default_factory=list)  # e2e: one per fixed rate

    @classmethod
    def failed(
        cls,
        stage: Stage,
        system: str,
        description: str,
        error: str,
        notes: list[str] | None = None,
    ) -> SystemResult:
        """A system that could not run: ``error`` says why (and what to do)."""
        return cls(
            stage=stage,
            system=system,
            description=description,
            trades=0,
            seconds=None,
            trades_per_s=None,
            error=error,
            notes=notes or [],
        )

    @property
    def ok(self) -> bool:
        return self.error is None and self.trades_per_s is not None

    def figure(self, name: str) -> Figure | None:
        return next((f for f in self.figures if f.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def ratio_to_ours(results: list[SystemResult]) -> dict[str, float | None]:
    """Each system's throughput over ours, for the systems of one stage."""
    ours = next((r for r in results if r.system == OURS and r.ok), None)
    out: dict[str, float | None] = {}
    for r in results:
        if ours is None or not r.ok or not ours.trades_per_s:
            out[r.system] = None
        else:
            assert r.trades_per_s is not None
            out[r.system] = r.trades_per_s / ours.trades_per_s
    return out
