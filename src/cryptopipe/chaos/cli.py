"""`cryptopipe chaos list|validate|run`: the experiments of chaos/, run by Chaos Toolkit."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from cryptopipe.chaos import journal, pipeline, timeline
from cryptopipe.chaos.settings import EXCHANGE_TAG, ChaosSettings
from cryptopipe.cli_settings import build_settings

logger = logging.getLogger(__name__)


def _settings(**options: Any) -> ChaosSettings:
    return build_settings(ChaosSettings, **options)


def experiments(settings: ChaosSettings) -> dict[str, Path]:
    """Experiment name (file stem) -> path, sorted."""
    folder = settings.chaos_experiments_dir
    return {p.stem: p for p in sorted(folder.glob("*.json"))}


def _pick(settings: ChaosSettings, names: tuple[str, ...], run_all: bool) -> dict[str, Path]:
    known = experiments(settings)
    if run_all or not names:
        if not run_all:
            click.secho("error: name experiments or pass --all", fg="red", err=True)
            click.echo(f"experiments: {', '.join(known)}", err=True)
            sys.exit(2)
        return known
    unknown = [n for n in names if n not in known]
    if unknown:
        click.secho(
            f"error: unknown experiment(s) {', '.join(unknown)}; one of: {', '.join(known)}",
            fg="red",
            err=True,
        )
        sys.exit(2)
    return {n: known[n] for n in names}


def _chaos_exe() -> str:
    exe = Path(sys.executable).with_name("chaos")
    return str(exe) if exe.exists() else (shutil.which("chaos") or "chaos")


def experiment_env(settings: ChaosSettings) -> dict[str, str]:
    """The environment of `chaos run`: the experiments' configuration and our providers'
    settings (CRYPTOPIPE_*), pointing at this stack."""
    from cryptopipe.runner.cli import service_env  # noqa: PLC0415

    env = service_env(settings)
    env.update(
        {
            "CRYPTOPIPE_TOXIPROXY": "true",
            "CRYPTOPIPE_TOXIPROXY_PORT": str(settings.toxiproxy_port),
            "CRYPTOPIPE_PROMETHEUS_PORT": str(settings.prometheus_port),
            "CRYPTOPIPE_ALERTMANAGER_PORT": str(settings.alertmanager_port),
            "CRYPTOPIPE_CHAOS_SYMBOLS": settings.chaos_symbols,
            "CRYPTOPIPE_CHAOS_AUDIT_WAIT_S": str(settings.chaos_audit_wait_s),
            "CRYPTOPIPE_CHAOS_MAX_LAG_OFFSETS": str(settings.chaos_max_lag_offsets),
            "CRYPTOPIPE_CHAOS_PROMETHEUS_URL": settings.prometheus_url(),
            "CRYPTOPIPE_CHAOS_TOXIPROXY_URL": f"http://127.0.0.1:{settings.toxiproxy_port}",
            "CRYPTOPIPE_CHAOS_SYMBOLS_REGEX": "|".join(settings.symbol_set()),
            "CRYPTOPIPE_CHAOS_SOURCE": settings.chaos_source,
            "CRYPTOPIPE_EXCHANGE_PORT": str(settings.exchange_port),
        }
    )
    return env


def run_experiment(settings: ChaosSettings, name: str, path: Path) -> journal.Summary:
    """One experiment through `chaos run --rollback-strategy always`; its journal summarized."""
    out = settings.chaos_journal_dir
    out.mkdir(parents=True, exist_ok=True)
    journal_path = out / f"{name}.json"
    journal_path.unlink(missing_ok=True)
    timeline.reset(settings)
    argv = [
        _chaos_exe(),
        "--log-file",
        str(out / f"{name}.log"),
        "run",
        "--journal-path",
        str(journal_path),
        "--rollback-strategy",
        "always",
        str(path),
    ]
    t0 = time.monotonic()
    env = experiment_env(settings)
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    logger.info("%s: chaos exited %d after %.0fs", name, proc.returncode, time.monotonic() - t0)
    if not journal_path.exists():
        tail = (proc.stdout + proc.stderr)[-1500:]
        return journal.Summary(name, "error", True, "-", None, None, None, [tail])
    return journal.summarize(name, journal.read(journal_path))


@click.group("chaos")
def chaos() -> None:
    """Chaos Toolkit experiments against the local stack: faults under load, with proof that
    the right alert fired and resolved and that nothing was lost or double counted."""


@chaos.command("list")
def chaos_list() -> None:
    """The experiments, with what each breaks."""
    settings = _settings()
    for name, path in experiments(settings).items():
        doc = json.loads(path.read_text())
        click.echo(f"{name:<20} {doc.get('title', '')}")


@chaos.command("validate")
@click.argument("names", nargs=-1)
def chaos_validate(names: tuple[str, ...]) -> None:
    """Chaos Toolkit's validation (what `chaos validate` runs) of the named experiments (all
    by default): syntax, and that every Python provider and its arguments exist."""
    from chaoslib.exceptions import ChaosException  # noqa: PLC0415
    from chaoslib.experiment import ensure_experiment_is_valid  # noqa: PLC0415
    from chaoslib.loader import load_experiment  # noqa: PLC0415

    settings = _settings()
    chosen = _pick(settings, names, run_all=not names)
    bad = []
    for name, path in chosen.items():
        try:
            ensure_experiment_is_valid(load_experiment(str(path), {}))
        except ChaosException as exc:
            bad.append(name)
            click.echo(f"{name:<20} INVALID: {exc}")
            continue
        click.echo(f"{name:<20} valid")
    if bad:
        sys.exit(1)


def _wait_quiet(settings: ChaosSettings, timeout_s: float) -> list[str]:
    """Wait until no page notifies (a young Prometheus keeps start-up burn pages for up to
    30 minutes: docs/chaos.md); returns the pages still firing at the end."""
    from cryptopipe.chaos.probes import firing  # noqa: PLC0415

    deadline = time.monotonic() + timeout_s
    shown: list[str] = []
    while True:
        try:
            pages = firing("page")
        except Exception as exc:  # Alertmanager not answering yet
            pages = [f"(Alertmanager: {exc})"]
        if not pages or time.monotonic() > deadline:
            return pages
        if pages != shown:
            click.echo(f"  waiting for these pages to resolve: {', '.join(pages)}", err=True)
            shown = pages
        time.sleep(5)


@chaos.command("run")
@click.argument("names", nargs=-1)
@click.option("--all", "run_all", is_flag=True, help="Run every experiment.")
@click.option("--journal-dir", type=click.Path(path_type=Path), default=None)
@click.option(
    "--no-start",
    is_flag=True,
    help="Use the stack (with Toxiproxy) and pipeline already running; start nothing.",
)
@click.option(
    "--keep-pipeline", is_flag=True, help="Leave the pipeline under test running at the end."
)
def chaos_run(
    names: tuple[str, ...],
    run_all: bool,
    journal_dir: Path | None,
    no_start: bool,
    keep_pipeline: bool,
) -> None:
    """Bring up the stack with Toxiproxy, start the pipeline under a steady synthetic load,
    run each experiment through Chaos Toolkit and print a summary. Exits 1 when any
    experiment deviated, failed, or lost or double counted a trade."""
    from cryptopipe.stack.manager import Stack  # noqa: PLC0415

    settings = _settings(chaos_journal_dir=journal_dir, toxiproxy=True)
    chosen = _pick(settings, names, run_all)
    if any(EXCHANGE_TAG in json.loads(p.read_text()).get("tags", []) for p in chosen.values()):
        settings = settings.model_copy(update={"chaos_source": "exchange"})
    if not no_start:
        try:
            Stack(settings).up(progress=lambda m: click.echo(f"  {m}", err=True))
        except Exception as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(1)
        started = pipeline.start(settings, {"CRYPTOPIPE_AUDIT_SYMBOLS": settings.chaos_symbols})
        if started:
            click.echo(f"  started {', '.join(started)} ({settings.chaos_symbols})", err=True)
    click.echo("  waiting for the pipeline to commit ...", err=True)
    if not pipeline.wait_fresh(settings, settings.chaos_steady_timeout_s):
        click.secho("error: the pipeline does not commit; see its logs", fg="red", err=True)
        sys.exit(1)
    pages = _wait_quiet(settings, settings.chaos_steady_timeout_s)
    if pages:
        click.secho(
            f"error: pages still fire: {', '.join(pages)}; the system is not in a steady "
            "state (see `cryptopipe alerts`)",
            fg="red",
            err=True,
        )
        sys.exit(1)
    rows = []
    try:
        for name, path in chosen.items():
            click.echo(f"==> {name}: {json.loads(path.read_text()).get('title', '')}", err=True)
            row = run_experiment(settings, name, path)
            click.echo(f"    {row.row()[1]}, deviated: {row.deviated}", err=True)
            rows.append(row)
    finally:
        if not (keep_pipeline or no_start):
            pipeline.stop(settings)
    click.echo(journal.table(rows))
    click.echo(f"journals in {settings.chaos_journal_dir}", err=True)
    if not all(r.ok for r in rows):
        sys.exit(1)
