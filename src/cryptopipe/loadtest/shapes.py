"""Load shapes as rates of trades per second over time. Pure: no Locust, no clock, no I/O.

The locustfile wraps one of these in a ``LoadTestShape``: Locust calls ``tick()`` about once a
second and the wrapper turns the rate into users (each user sends its share of the rate). The
step shape also needs to know whether the pipeline held the last step: the wrapper passes a
:class:`Health` reading to every tick.

Durations are written as Locust writes ``--run-time``: ``30s``, ``5m``, ``1h30m``; a bare
number is seconds (:func:`parse_duration`, the one parser of the load tests).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal, Protocol

ShapeName = Literal["steady", "step", "spike", "soak"]
SHAPES: tuple[ShapeName, ...] = ("steady", "step", "spike", "soak")

_DURATION_RE = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")


def parse_duration(text: str | float | int) -> float:
    """``30s`` / ``5m`` / ``1h`` / ``1h30m`` / ``90`` -> seconds (> 0). ValueError otherwise."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        raw = str(text).strip().lower()
        try:
            seconds = float(raw)
        except ValueError:
            match = _DURATION_RE.fullmatch(raw)
            if not raw or match is None or not any(match.groups()):
                raise ValueError(
                    f"not a duration: {text!r} (write 30s, 5m, 1h, 1h30m or seconds)"
                ) from None
            h, m, s = (float(g) if g else 0.0 for g in match.groups())
            seconds = h * 3600 + m * 60 + s
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"a duration must be > 0 seconds, got {text!r}")
    return seconds


@dataclass(frozen=True, slots=True)
class Health:
    """What the pipeline looked like at one tick (None: not known yet)."""

    lag: float | None = None  # Kafka offsets behind latest, summed over partitions
    e2e_worst_s: float | None = None  # worst sampled trade-time -> MySQL latency since last tick
    e2e_failed: int = 0  # samples not seen in MySQL in time since the last tick
    sent_rate: float | None = None  # trades/s the users achieved since the last tick


class Shape(Protocol):
    name: ShapeName

    def rate(self, run_time_s: float, health: Health) -> float | None:
        """Target trades/s at ``run_time_s``; None ends the load."""
        ...

    def planned_duration_s(self) -> float | None: ...


@dataclass
class Steady:
    rate_per_s: float
    duration_s: float
    name: ShapeName = "steady"

    def rate(self, run_time_s: float, health: Health) -> float | None:
        return self.rate_per_s if run_time_s < self.duration_s else None

    def planned_duration_s(self) -> float | None:
        return self.duration_s


@dataclass
class Soak(Steady):
    """Steady for hours; the same rate, memory and lag watched by the CLI while it runs."""

    name: ShapeName = "soak"


@dataclass
class Spike:
    """A market crash: ``base`` for ``before_s``, ``base * multiplier`` for ``spike_s``, then
    ``base`` again until ``duration_s`` (the recovery that the verdict measures)."""

    rate_per_s: float
    duration_s: float
    multiplier: float = 40.0
    before_s: float = 30.0
    spike_s: float = 60.0
    name: ShapeName = "spike"

    def __post_init__(self) -> None:
        if self.before_s + self.spike_s >= self.duration_s:
            raise ValueError(
                f"spike: duration {self.duration_s:g}s leaves no recovery after "
                f"{self.before_s:g}s + a {self.spike_s:g}s spike"
            )

    def rate(self, run_time_s: float, health: Health) -> float | None:
        if run_time_s >= self.duration_s:
            return None
        if self.before_s <= run_time_s < self.before_s + self.spike_s:
            return self.rate_per_s * self.multiplier
        return self.rate_per_s

    def planned_duration_s(self) -> float | None:
        return self.duration_s

    @property
    def spike_end_s(self) -> float:
        return self.before_s + self.spike_s


@dataclass
class StepResult:
    rate_per_s: float
    held: bool
    why: str
    max_lag: float | None
    worst_e2e_s: float | None
    achieved_rate: float | None


@dataclass
class Step:
    """``rate``, ``rate * factor``, ... each for ``step_s`` until a step is not held (in the
    second half of the step: lag above ``max(lag_floor, lag_s * rate)``, a sampled trade slower
    than ``e2e_slo_s`` or never seen in MySQL, or the load generator short of 90 % of the rate)
    or ``duration_s`` or ``max_rate`` is reached. ``capacity`` is the last rate held.

    The lag bound is a backlog in seconds of the step's trades: by default the latency SLO's
    threshold, as a trade behind more than that many seconds of backlog cannot make it."""

    rate_per_s: float
    duration_s: float
    step_s: float = 20.0
    factor: float = 2.0
    max_rate_per_s: float = 1_000_000.0
    lag_s: float | None = None  # default: e2e_slo_s
    lag_floor: float = 2000.0
    e2e_slo_s: float = 5.0
    name: ShapeName = "step"
    results: list[StepResult] = field(default_factory=list)
    _index: int = -1
    _max_lag: float | None = None
    _worst: float | None = None
    _failed: int = 0
    _sent: list[float] = field(default_factory=list)
    _done: bool = False

    def __post_init__(self) -> None:
        if self.factor <= 1:
            raise ValueError("step factor must be > 1")
        if self.lag_s is None:
            self.lag_s = self.e2e_slo_s

    def step_rate(self, index: int) -> float:
        return self.rate_per_s * self.factor**index

    def rate(self, run_time_s: float, health: Health) -> float | None:
        if self._done or run_time_s >= self.duration_s:
            self._finish_step("duration reached")
            return None
        index = int(run_time_s // self.step_s)
        if index != self._index:
            if self._index >= 0 and not self._finish_step(""):
                return None
            if self.step_rate(index) > self.max_rate_per_s:
                self._done = True
                return None
            self._index = index
            self._max_lag, self._worst, self._failed, self._sent = None, None, 0, []
        else:
            self._observe(run_time_s - index * self.step_s, health)
        return self.step_rate(self._index)

    def _observe(self, into_step_s: float, health: Health) -> None:
        # a step is judged on its second half, when it has settled: the first half still
        # drains what the previous rate (or, for the first step, the processor's start-up:
        # JIT, the first batches' plans) left behind
        if into_step_s >= self.step_s / 2:
            if health.e2e_worst_s is not None:
                self._worst = max(self._worst or 0.0, health.e2e_worst_s)
            self._failed += health.e2e_failed
            if health.lag is not None:
                self._max_lag = max(self._max_lag or 0.0, health.lag)
            if health.sent_rate is not None:
                self._sent.append(health.sent_rate)

    def _finish_step(self, why_done: str) -> bool:
        """Judge the running step (once); True when it held."""
        if self._index < 0 or len(self.results) > self._index:
            return not self._done
        rate = self.step_rate(self._index)
        achieved = sum(self._sent) / len(self._sent) if self._sent else None
        reasons = []
        lag_bound = max(self.lag_floor, (self.lag_s or self.e2e_slo_s) * rate)
        if self._max_lag is not None and self._max_lag > lag_bound:
            reasons.append(f"lag {self._max_lag:,.0f} offsets")
        if self._worst is not None and self._worst > self.e2e_slo_s:
            reasons.append(f"a trade took {self._worst:.1f}s to MySQL (SLO {self.e2e_slo_s:g}s)")
        if self._failed:
            reasons.append(f"{self._failed} sampled trades never reached MySQL")
        if achieved is not None and achieved < 0.9 * rate:
            reasons.append(f"load generator reached only {achieved:,.0f}/s")
        held = not reasons
        self.results.append(
            StepResult(
                rate, held, "; ".join(reasons) or why_done, self._max_lag, self._worst, achieved
            )
        )
        if not held:
            self._done = True
        return held

    def planned_duration_s(self) -> float | None:
        return self.duration_s

    @property
    def capacity(self) -> float | None:
        held = [r.rate_per_s for r in self.results if r.held]
        return max(held) if held else None

    @property
    def limited_by(self) -> str:
        """What ended the search: the pipeline, the load generator, or the plan's limits."""
        failed = [r for r in self.results if not r.held]
        if not failed:
            return "plan"
        return "load generator" if "load generator" in failed[-1].why else "pipeline"


def build_shape(
    name: ShapeName,
    rate: float,
    duration_s: float,
    *,
    step_s: float = 20.0,
    step_factor: float = 2.0,
    max_rate: float = 1_000_000.0,
    spike_multiplier: float = 40.0,
    spike_before_s: float = 30.0,
    spike_s: float = 60.0,
    e2e_slo_s: float = 5.0,
) -> Shape:
    if rate <= 0:
        raise ValueError("rate must be > 0 trades/s")
    if name == "steady":
        return Steady(rate, duration_s)
    if name == "soak":
        return Soak(rate, duration_s)
    if name == "spike":
        return Spike(rate, duration_s, spike_multiplier, spike_before_s, spike_s)
    return Step(
        rate,
        duration_s,
        step_s=step_s,
        factor=step_factor,
        max_rate_per_s=max_rate,
        e2e_slo_s=e2e_slo_s,
    )


def users_for(rate: float, per_user_rate: float) -> int:
    """How many users send ``rate`` trades/s when one sends at most ``per_user_rate``."""
    return max(1, math.ceil(rate / per_user_rate)) if rate > 0 else 0
