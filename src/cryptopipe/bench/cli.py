"""`cryptopipe bench producer|processor|e2e|all`: bring up the local stack, run each stage's
systems on the same generated trades, write results.json, results.md and plots."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from typing import Any

import click

from cryptopipe.bench.context import BenchContext, Sizing
from cryptopipe.bench.model import STAGES, SystemResult
from cryptopipe.bench.settings import BenchSettings
from cryptopipe.cli_settings import build_settings
from cryptopipe.stack.manager import Stack
from cryptopipe.stack.settings import StackSettings

logger = logging.getLogger(__name__)


def _echo(message: str) -> None:
    click.echo(f"  {message}", err=True)


def run_stage(stage: str, ctx: BenchContext) -> list[SystemResult]:
    """One stage: ``cryptopipe.bench.<stage>.run_stage(ctx)``."""
    module = importlib.import_module(f"cryptopipe.bench.{stage}")
    results: list[SystemResult] = module.run_stage(ctx)
    return results


@click.command("bench")
@click.argument("stage", type=click.Choice([*STAGES, "all"]), default="all")
@click.option("--quick", is_flag=True, default=None, help="About two minutes in all.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Output folder.")
@click.option("--seed", type=int, default=None, help="Seed of the generated trades.")
def bench(stage: str, **options: Any) -> None:
    """Benchmark a stage (or all) beside its peers on the same trades; writes results.json,
    results.md and PNG plots into --out."""
    settings = build_settings(BenchSettings, **options)
    stack_settings = build_settings(StackSettings)
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
    for name in stages:
        click.echo(f"== {name}", err=True)
        results += run_stage(name, ctx)
    for r in results:
        rate = f"{r.trades_per_s:>12,.0f} trades/s" if r.trades_per_s else "      -"
        click.echo(f"{r.stage:10} {r.system:32} {rate}  {r.error or ''}")
    sys.exit(0)
