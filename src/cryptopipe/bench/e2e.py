"""`cryptopipe bench e2e`: trade time -> MySQL commit at fixed rates, and the ceiling.

Each rate is a steady `cryptopipe loadtest --target kafka` run (Locust sends the trades, the
audit checks them, Prometheus' end-to-end histogram gives the percentiles over all of the run's
trades); the ceiling is its step shape: the highest rate at which lag stayed bounded (and the
latency SLO held) for a whole step. One processor serves every run (a Spark start-up each would
measure Spark's start, not the pipeline).
"""

from __future__ import annotations

import json
import logging
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from cryptopipe.bench.context import BenchContext
from cryptopipe.bench.model import OURS, Figure, LatencyPoint, SystemResult
from cryptopipe.loadtest import cli as loadtest
from cryptopipe.loadtest import plan as names
from cryptopipe.loadtest.settings import LoadtestSettings
from cryptopipe.stack.manager import Stack

logger = logging.getLogger(__name__)

CEILING_START_RATE = 5_000.0
CEILING_FACTOR = 2.0  # 5k, 10k, 20k, 40k ...: a minute each
CEILING_MAX_RATE = 400_000.0
DRAIN_S = 90.0


def point_from_verdict(rate: float, verdict: dict[str, Any]) -> LatencyPoint:
    """One fixed-rate run's figures from its loadtest verdict.json."""
    run = verdict.get("run", {})
    duration = float(run.get("duration_s") or 0.0)
    sent = int(verdict.get("trades_sent") or 0)
    hist = verdict.get("processor_e2e_histogram_s") or {}
    audit = verdict.get("audit") or {}
    return LatencyPoint(
        rate=rate,
        trades=sent,
        achieved_rate=sent / duration if duration else None,
        duration_s=duration,
        p50_s=hist.get("p50"),
        p95_s=hist.get("p95"),
        p99_s=hist.get("p99"),
        peak_lag=verdict.get("peak_lag"),
        held=bool(verdict.get("ok")),
        audit_complete=audit.get("complete"),
    )


def _run(ctx: BenchContext, settings: LoadtestSettings) -> dict[str, Any]:
    code = loadtest.execute(settings, ctx.settings)
    verdict: dict[str, Any] = json.loads((settings.out / names.VERDICT_FILE).read_text())
    logger.info("loadtest %s exited %d", settings.out, code)
    return verdict


def _settings(out: Path, **fields: Any) -> LoadtestSettings:
    return LoadtestSettings(target="kafka", out=out, drain_s=DRAIN_S, **fields)


def run_stage(ctx: BenchContext) -> list[SystemResult]:
    sizing = ctx.sizing
    out = ctx.out / "e2e"
    points: list[LatencyPoint] = []
    ceiling: dict[str, Any] | None = None
    with ExitStack() as cleanup:
        if loadtest.start_processor(ctx.settings, f"bench-{ctx.run_id}"):
            cleanup.callback(lambda: Stack(ctx.settings).process("processor").stop(60))
        ctx.progress("waiting for the processor (Spark start-up) ...")
        loadtest.wait_processor(ctx.settings)
        for rate in sizing.e2e_rates:
            ctx.progress(f"steady {rate:,.0f} trades/s for {sizing.e2e_duration} (Locust) ...")
            run_out = out / f"steady-{rate:.0f}"
            verdict = _run(
                ctx,
                _settings(
                    run_out, shape="steady", rate=rate, duration=sizing.e2e_duration, seed=ctx.seed
                ),
            )
            point = point_from_verdict(rate, verdict)
            points.append(point)
            ctx.progress(
                f"{rate:,.0f} trades/s: p50 {point.p50_s} s, p99 {point.p99_s} s, "
                f"held: {point.held}"
            )
        if sizing.ceiling:
            ctx.progress(f"ceiling: steps of {sizing.ceiling_step} from {CEILING_START_RATE:,.0f}")
            verdict = _run(
                ctx,
                _settings(
                    out / "step",
                    shape="step",
                    rate=CEILING_START_RATE,
                    step_duration=sizing.ceiling_step,
                    step_factor=CEILING_FACTOR,
                    max_rate=CEILING_MAX_RATE,
                    seed=ctx.seed,
                ),
            )
            ceiling = verdict.get("capacity")
    return [result_of(points, ceiling, sizing.e2e_duration)]


def result_of(
    points: list[LatencyPoint], ceiling: dict[str, Any] | None, duration: str
) -> SystemResult:
    held = [p for p in points if p.held and p.achieved_rate]
    capacity = (ceiling or {}).get("trades_per_s")
    figures: list[Figure] = []  # the percentiles are the points (results.md's table)
    notes = [
        f"each rate: {duration} of steady load straight onto the topic (Locust), percentiles "
        "of the processor's trade time -> MySQL commit histogram over all of the run's trades"
    ]
    if capacity is not None:
        figures.append(Figure("ceiling", float(capacity), "trades/s"))
        notes.append(f"ceiling: {ceiling.get('limited_by') if ceiling else ''}")
    else:
        notes.append("ceiling not measured (--quick): the headline is the highest rate held")
    highest_held = max((p.achieved_rate or 0.0 for p in held), default=0.0)
    best = capacity if capacity is not None else highest_held
    return SystemResult(
        stage="e2e",
        system=OURS,
        description="producer-side load -> Kafka -> Spark -> MySQL commit",
        trades=sum(p.trades for p in points),
        seconds=sum(p.duration_s for p in points),
        trades_per_s=best or None,
        correct=all(p.audit_complete for p in points) if points else None,
        figures=figures,
        notes=notes,
        points=points,
    )
