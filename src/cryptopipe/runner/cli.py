"""`cryptopipe run`: the whole pipeline on the local stack, with live progress, until Ctrl-C."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, get_args

import click

from cryptopipe.cli_settings import build_settings
from cryptopipe.producer.settings import Source
from cryptopipe.report import default_out
from cryptopipe.runner import progress
from cryptopipe.runner.settings import RunSettings
from cryptopipe.stack.manager import Stack, tail
from cryptopipe.stack.process import ManagedProcess
from cryptopipe.stack.settings import StackSettings

logger = logging.getLogger(__name__)

# stop order: the producer first (it flushes), then the processor commits what it has
PIPELINE = ("producer", "processor", "audit")


def service_env(settings: StackSettings) -> dict[str, str]:
    """The environment that points a pipeline service at this stack."""
    env = dict(os.environ)
    for key in (
        "state_dir",
        "cache_dir",
        "kafka_port",
        "mysql_host",
        "mysql_port",
        "mysql_database",
        "mysql_user",
        "producer_metrics_port",
        "processor_metrics_port",
        "audit_metrics_port",
        "topic_trades",
        "topic_dlq",
    ):
        env[f"CRYPTOPIPE_{key.upper()}"] = str(getattr(settings, key))
    env["CRYPTOPIPE_KAFKA_BOOTSTRAP_SERVERS"] = settings.bootstrap_servers()
    env.setdefault("CRYPTOPIPE_LOG_FORMAT", "json")
    return env


def service_commands(
    source: str, symbols: str | None, rate: float | None, extra: dict[str, Any]
) -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "cryptopipe.cli"]
    produce = [*cli, "produce", "--source", source]
    if symbols:
        produce += ["--symbols", symbols]
    if source == "synthetic" and rate:
        produce += ["--rate", str(rate)]
    for flag, value in extra.items():
        if value is not None:
            produce += [flag, str(value)]
    return {
        "producer": produce,
        "processor": [*cli, "process"],
        "audit": [*cli, "audit", "--watch"],
    }


def where_to_look(stack: Stack) -> str:
    s = stack.settings
    secret = s.secrets_dir / "mysql-app.json"
    return "\n".join(
        [
            "Where to look:",
            f"  Prometheus     http://127.0.0.1:{s.prometheus_port}  (try: cryptopipe_*)",
            f"  Alertmanager   http://127.0.0.1:{s.alertmanager_port}",
            f"  metrics        http://127.0.0.1:{s.producer_metrics_port}/metrics (producer),"
            f" :{s.processor_metrics_port} (processor), :{s.audit_metrics_port} (audit)",
            f"  MySQL          mariadb -h 127.0.0.1 -P {s.mysql_port} -u {s.mysql_user} -p"
            f" {s.mysql_database}   (password in {secret})",
            "                 SELECT symbol, bar_interval, window_start, open, high, low, close,"
            " trade_count FROM candles ORDER BY window_start DESC LIMIT 10;",
            f"  logs           {s.logs_dir}/<service>.log",
            "  audit          cryptopipe audit",
            "  report         cryptopipe report --since 1h   (the dashboards' panels as HTML"
            f" and PNGs in {default_out(s.state_dir)})",
        ]
    )


def _stop(procs: dict[str, ManagedProcess], name: str, timeout_s: float) -> None:
    if procs[name].stop(timeout_s):
        click.echo(f"  stopped {name}", err=True)


def _drain_and_audit(symbols: str | None, processor: ManagedProcess, wait_s: float) -> None:
    """With the producer stopped, let the processor commit what is on the topic (up to
    ``wait_s``), proved by the audit, then show the audit's verdict."""
    from cryptopipe.audit.cli import audit_until, render_table  # noqa: PLC0415
    from cryptopipe.audit.settings import AuditSettings  # noqa: PLC0415

    if not processor.is_running():
        return
    click.echo(f"  waiting up to {wait_s:.0f}s for the processor to catch up ...", err=True)
    try:
        settings = AuditSettings(audit_symbols=symbols) if symbols else AuditSettings()
        report = audit_until(settings, wait_s)
    except Exception as exc:
        click.echo(f"  final audit failed: {exc}", err=True)
        return
    click.echo(render_table(report), err=True)


@click.command("run")
@click.option(
    "--source",
    type=click.Choice(get_args(Source)),
    default=None,
    help="Trade source for the producer (binance needs network access to Binance). "
    "Env CRYPTOPIPE_SOURCE; default synthetic.",
)
@click.option(
    "--symbols",
    default=None,
    help="Comma-separated symbols (env CRYPTOPIPE_SYMBOLS; default the producer's).",
)
@click.option(
    "--rate",
    type=float,
    default=None,
    help="synthetic: trades per second (env CRYPTOPIPE_RATE; default 500).",
)
@click.option(
    "--replay-file",
    type=click.Path(path_type=Path),
    default=None,
    help="replay: JSON lines of raw frames (env CRYPTOPIPE_REPLAY_FILE).",
)
@click.option(
    "--duration",
    "run_duration_s",
    type=float,
    default=None,
    help="Stop after N seconds; 0: at Ctrl-C (env CRYPTOPIPE_RUN_DURATION_S; default 0).",
)
@click.option(
    "--interval",
    "run_interval_s",
    type=float,
    default=None,
    help="Seconds between progress lines (env CRYPTOPIPE_RUN_INTERVAL_S; default 2).",
)
@click.option(
    "--drain",
    "run_drain_s",
    type=float,
    default=None,
    help="At the end, wait this long for the processor to commit everything, audited "
    "(env CRYPTOPIPE_RUN_DRAIN_S; default 90).",
)
@click.option(
    "--down",
    "run_down",
    is_flag=True,
    default=None,
    help="Also stop the stack at the end (env CRYPTOPIPE_RUN_DOWN).",
)
def run(**options: Any) -> None:
    """Bring the stack up, run producer + processor + audit, show progress until interrupted.

    Services run in the background with logs under the state dir; Ctrl-C (or --duration) stops
    them cleanly: the producer flushes, the processor commits, then they exit. Every option is
    also a CRYPTOPIPE_* variable (RunSettings); bad settings exit 2 before anything starts.
    """
    settings = build_settings(RunSettings, **options)
    stack = Stack(settings)
    try:
        stack.up(progress=lambda m: click.echo(f"  {m}", err=True))
    except Exception as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)

    procs = {name: stack.process(name) for name in PIPELINE}
    running = [name for name, p in procs.items() if p.is_running()]
    if running:
        click.secho(
            f"error: {', '.join(running)} already running (another `cryptopipe run`?); "
            "stop it first",
            fg="red",
            err=True,
        )
        sys.exit(1)

    env = service_env(stack.settings)
    commands = service_commands(
        settings.source, settings.symbols, settings.rate, {"--replay-file": settings.replay_file}
    )
    for name in PIPELINE:
        procs[name].start(commands[name], env=env)
        click.echo(f"  started {name} (log: {procs[name].log_file})", err=True)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    s = stack.settings
    producer_url = f"http://127.0.0.1:{s.producer_metrics_port}/metrics"
    processor_url = f"http://127.0.0.1:{s.processor_metrics_port}/metrics"
    click.echo("Running. Ctrl-C to stop.\n" + where_to_look(stack), err=True)

    exit_code = 0
    started = time.monotonic()
    last = progress.snapshot(time.time(), producer_url, processor_url)
    while not stop.wait(settings.run_interval_s):
        now = progress.snapshot(time.time(), producer_url, processor_url)
        click.echo(progress.format_line(last, now))
        last = now
        dead = [name for name in PIPELINE if not procs[name].is_running()]
        if dead:
            for name in dead:
                click.secho(
                    f"error: {name} exited; last lines of {procs[name].log_file}:\n"
                    + tail(procs[name].log_file, 15),
                    fg="red",
                    err=True,
                )
            exit_code = 1
            break
        if settings.run_duration_s and time.monotonic() - started >= settings.run_duration_s:
            break

    click.echo("stopping the pipeline ...", err=True)
    _stop(procs, "producer", 60)
    if exit_code == 0:
        _drain_and_audit(settings.symbols, procs["processor"], settings.run_drain_s)
    _stop(procs, "processor", 60)
    _stop(procs, "audit", 30)
    if settings.run_down:
        stack.down(progress=lambda m: click.echo(f"  {m}", err=True))
    else:
        click.echo("The stack keeps running: `cryptopipe stack down` stops it.", err=True)
    click.echo(where_to_look(stack), err=True)
    sys.exit(exit_code)
