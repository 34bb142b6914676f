"""`cryptopipe bench producer|processor|e2e|all`: bring up the local stack, run each stage's
systems on the same generated trades, write results.json, results.md and PNG plots."""

from __future__ import annotations

import importlib
import logging
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from cryptopipe.bench import machine, plots, report
from cryptopipe.bench.context import BenchContext, Sizing
from cryptopipe.bench.model import OURS, STAGES, Stage, SystemResult
from cryptopipe.bench.settings import BenchSettings
from cryptopipe.cli_settings import build_settings
from cryptopipe.stack.manager import Stack
from cryptopipe.stack.settings import StackSettings

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED = 0, 1
DOCS_ASSETS = "benchmarks"  # docs/benchmarks/: results.json and the plots beside the page


def _echo(message: str) -> None:
    click.echo(f"  {message}", err=True)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def run_stage(stage: str, ctx: BenchContext) -> list[SystemResult]:
    """One stage: ``cryptopipe.bench.<stage>.run_stage(ctx)``; a stage that crashes is
    reported as ours failing, and the run goes on with the next stage."""
    started = time.monotonic()
    try:
        module = importlib.import_module(f"cryptopipe.bench.{stage}")
        results: list[SystemResult] = module.run_stage(ctx)
    except Exception as exc:
        logger.exception("bench %s failed", stage)
        error = f"{type(exc).__name__}: {exc} (the log above has the details)"
        stage_name: Stage = stage  # type: ignore[assignment]
        results = [SystemResult.failed(stage_name, OURS, "the stage did not complete", error)]
    _echo(f"{stage} done in {time.monotonic() - started:.0f}s")
    return results


def _summary_line(r: SystemResult) -> str:
    rate = f"{r.trades_per_s:>12,.0f} trades/s" if r.trades_per_s else f"{'-':>21}"
    correct = {True: "correct", False: "WRONG", None: ""}[r.correct]
    return f"{r.stage:10} {r.system:34} {rate}  {correct:8} {r.error or ''}"


def write_docs(results: dict[str, Any], out: Path, page: Path) -> None:
    """docs/benchmarks.md from the run, with results.json and the plots in docs/benchmarks/."""
    assets = page.parent / DOCS_ASSETS
    assets.mkdir(parents=True, exist_ok=True)
    for name in results["plots"].values():
        shutil.copyfile(out / name, assets / name)
    report.write_json(assets, results)
    page.write_text(report.render_docs(results, f"{DOCS_ASSETS}/"))


def execute(settings: BenchSettings, stack_settings: StackSettings, stage: str) -> int:
    started, t0 = _now(), time.monotonic()
    load_before = machine.load_average()
    stack = Stack(stack_settings)
    stack.up(progress=_echo)
    ctx = BenchContext(
        settings=stack.settings,
        sizing=Sizing.for_run(settings.quick),
        out=settings.out,
        progress=_echo,
        seed=settings.seed,
    )
    settings.out.mkdir(parents=True, exist_ok=True)
    stages = list(STAGES) if stage == "all" else [stage]
    results: list[SystemResult] = []
    for index, name in enumerate(stages, 1):
        click.echo(f"== [{index}/{len(stages)}] {name}", err=True)
        results += run_stage(name, ctx)
    facts = machine.describe(stack.settings)
    facts["load_average_before"] = load_before
    facts["load_average_after"] = machine.load_average()
    command = "cryptopipe bench " + stage + (" --quick" if settings.quick else "")
    data = {s: ctx.data_spec(s).describe() for s in stages if s != "e2e"}
    assembled = report.assemble(
        command=command,
        quick=settings.quick,
        started_at=started,
        finished_at=_now(),
        duration_s=time.monotonic() - t0,
        commit=_commit(),
        machine=facts,
        data=data,
        results=results,
        plots={},
    )
    assembled["plots"] = plots.draw(assembled, settings.out)
    report.write_json(settings.out, assembled)
    (settings.out / report.RESULTS_MD).write_text(report.render_markdown(assembled))
    if settings.docs:
        write_docs(assembled, settings.out, settings.docs)
    for r in results:
        click.echo(_summary_line(r))
    click.echo(
        f"Results in {settings.out}: {report.RESULTS_JSON}, {report.RESULTS_MD}, "
        f"{', '.join(assembled['plots'].values())}",
        err=True,
    )
    ours = [r for r in results if r.system == OURS]
    failed = [r for r in ours if r.error is not None or r.correct is False]
    return EXIT_FAILED if failed else EXIT_OK


@click.command("bench")
@click.argument("stage", type=click.Choice([*STAGES, "all"]), default="all")
@click.option("--quick", is_flag=True, default=None, help="About two minutes in all.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Output folder.")
@click.option("--seed", type=int, default=None, help="Seed of the generated trades.")
@click.option(
    "--docs",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write this page (docs/benchmarks.md) and its assets from the run.",
)
def bench(stage: str, **options: Any) -> None:
    """Benchmark a stage (or all) beside its peers on the same generated trades, on the local
    stack; writes results.json, results.md and PNG plots into --out (bench-results).

    Exit code 0 if our system ran every stage and its output was correct (nothing lost or
    double counted, exact candles), 1 if not; a peer that cannot run is reported, not fatal.
    Options are also CRYPTOPIPE_BENCH_<NAME> variables.
    """
    settings = build_settings(BenchSettings, **options)
    stack_settings = build_settings(StackSettings)
    sys.exit(execute(settings, stack_settings, stage))
