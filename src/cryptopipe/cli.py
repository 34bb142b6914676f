"""The `cryptopipe` command line; each command builds its settings once and passes them down."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from cryptopipe import __version__
from cryptopipe.alerts.cli import alerts
from cryptopipe.audit.cli import audit
from cryptopipe.bench.cli import bench
from cryptopipe.chaos.cli import chaos
from cryptopipe.cli_settings import build_settings
from cryptopipe.dashboards.cli import dashboards
from cryptopipe.db.cli import db
from cryptopipe.exchange.cli import exchange
from cryptopipe.loadtest.cli import loadtest
from cryptopipe.observability.logs import LogFormat, configure_logging
from cryptopipe.processor.cli import process
from cryptopipe.producer.cli import produce
from cryptopipe.report.cli import report
from cryptopipe.runner.cli import run
from cryptopipe.slo.cli import slo

logger = logging.getLogger(__name__)


def fail(message: str, code: int = 1) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cryptopipe")
@click.option(
    "--log-level",
    default="INFO",
    envvar="CRYPTOPIPE_LOG_LEVEL",
    show_default=True,
    help="Logging level (env CRYPTOPIPE_LOG_LEVEL).",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "text"]),
    default="auto",
    envvar="CRYPTOPIPE_LOG_FORMAT",
    show_default=True,
    help="auto: text on a terminal, JSON lines (with trace ids) otherwise.",
)
@click.pass_context
def main(ctx: click.Context, log_level: str, log_format: LogFormat) -> None:
    """cryptopipe: Binance trades -> Kafka -> Spark -> MySQL, observed end to end.

    Every option is also an environment variable with the CRYPTOPIPE_ prefix.
    """
    configure_logging(f"cryptopipe-{ctx.invoked_subcommand or 'cli'}", log_level, log_format)


# stack -------------------------------------------------------------------------------------


def _stack_settings(**options: Any) -> Any:
    from cryptopipe.stack.settings import StackSettings  # noqa: PLC0415

    return build_settings(StackSettings, **options)


state_dir_option = click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Runtime state dir (env CRYPTOPIPE_STATE_DIR; default ~/.local/state/cryptopipe).",
)


@main.group()
def stack() -> None:
    """Run the local stack: Kafka (KRaft), MariaDB, Prometheus, Alertmanager on loopback."""


@stack.command("up")
@click.option(
    "--brokers",
    type=click.Choice(["1", "3"]),
    default=None,
    help="Kafka brokers: 1 (default) or 3 (RF 3, min ISR 2). Env CRYPTOPIPE_BROKERS.",
)
@click.option(
    "--toxiproxy/--no-toxiproxy",
    default=None,
    help="Also run Toxiproxy in front of Kafka and MariaDB (chaos). Env CRYPTOPIPE_TOXIPROXY.",
)
@state_dir_option
def stack_up(brokers: str | None, toxiproxy: bool | None, state_dir: Path | None) -> None:
    """Start every service (idempotent: running services are left alone) and wait until healthy."""
    from cryptopipe.stack.jars import JarResolutionError  # noqa: PLC0415
    from cryptopipe.stack.manager import Stack, StackError  # noqa: PLC0415
    from cryptopipe.stack.prereqs import MissingPrerequisiteError  # noqa: PLC0415

    settings = _stack_settings(
        brokers=int(brokers) if brokers else None, toxiproxy=toxiproxy, state_dir=state_dir
    )
    try:
        statuses = Stack(settings).up(progress=lambda m: click.echo(f"  {m}", err=True))
    except (MissingPrerequisiteError, JarResolutionError, StackError, FileNotFoundError) as exc:
        fail(str(exc))
        return
    _print_status(statuses)
    if any(s.state != "healthy" for s in statuses):
        fail("some services are not healthy; see `cryptopipe stack status`")


@stack.command("fetch")
@click.option("--only", "only", multiple=True, help="Resolve just this jar set (repeatable).")
@click.option(
    "--toxiproxy",
    "with_toxiproxy",
    is_flag=True,
    help="Also build Toxiproxy (for the chaos experiments; needs Go >= 1.23).",
)
@state_dir_option
def stack_fetch(only: tuple[str, ...], with_toxiproxy: bool, state_dir: Path | None) -> None:
    """Resolve every JVM jar set (Kafka, Spark's Kafka connector) into the cache for offline use."""
    from cryptopipe.stack import toxiproxy  # noqa: PLC0415
    from cryptopipe.stack.jars import JarResolutionError, pom_names, resolve_maven  # noqa: PLC0415

    settings = _stack_settings(state_dir=state_dir)
    if with_toxiproxy:
        try:
            click.echo(f"  {'toxiproxy':<12} {toxiproxy.build(settings)}", err=True)
        except (FileNotFoundError, RuntimeError) as exc:
            fail(str(exc))
    names = pom_names()
    unknown = set(only) - set(names)
    if unknown:
        fail(f"unknown jar set(s) {sorted(unknown)}; one of {names}", 2)
    for name in only or names:
        try:
            lib = resolve_maven(name, settings.cache_dir)
        except JarResolutionError as exc:
            fail(str(exc))
        click.echo(f"  {name:<12} {lib}", err=True)


@stack.command("down")
@click.option("--purge", is_flag=True, help="Also delete the state dir (data, logs, checkpoints).")
@state_dir_option
def stack_down(purge: bool, state_dir: Path | None) -> None:
    """Stop what the stack started: SIGTERM (the Kafka nodes together), SIGKILL only after
    CRYPTOPIPE_STOP_TIMEOUT_S; prints how and how fast each service stopped."""
    from cryptopipe.stack.manager import Stack  # noqa: PLC0415

    settings = _stack_settings(state_dir=state_dir)
    stopped = Stack(settings).down(purge=purge, progress=lambda m: click.echo(f"  {m}", err=True))
    if not stopped:
        click.echo("nothing was running", err=True)


@stack.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable: states and endpoints.")
@state_dir_option
def stack_status(as_json: bool, state_dir: Path | None) -> None:
    """Show each service: state, pid, port, endpoint. Exit 1 unless all are healthy."""
    from cryptopipe.stack.manager import Stack  # noqa: PLC0415

    the_stack = Stack(_stack_settings(state_dir=state_dir))
    if as_json:
        report = the_stack.status_json()
        click.echo(json.dumps(report, indent=2))
        sys.exit(0 if report["healthy"] else 1)
    statuses = the_stack.status()
    _print_status(statuses + the_stack.pipeline_status())
    for key, value in the_stack.endpoints().items():
        click.echo(f"  {key:<24} {value}")
    sys.exit(0 if all(s.state == "healthy" for s in statuses) else 1)


@stack.command("logs")
@click.argument("service")
@click.option("-n", "--lines", default=50, show_default=True, help="How many lines.")
@state_dir_option
def stack_logs(service: str, lines: int, state_dir: Path | None) -> None:
    """Print the last lines of a service's log (mariadb, kafka-1, prometheus, ...)."""
    from cryptopipe.stack.manager import Stack, tail  # noqa: PLC0415

    the_stack = Stack(_stack_settings(state_dir=state_dir))
    names = the_stack.service_names()
    if service not in names:
        fail(f"unknown service {service!r}; one of: {', '.join(names)}", 2)
    click.echo(tail(the_stack.process(service).log_file, lines))


def _print_status(statuses: list[Any]) -> None:
    colors = {"healthy": "green", "unhealthy": "yellow", "crashed": "red", "stopped": "white"}
    click.echo(f"{'SERVICE':<14}{'STATE':<11}{'PID':<9}{'PORT':<7}ENDPOINT")
    for s in statuses:
        state = click.style(f"{s.state:<11}", fg=colors.get(s.state))
        pid = str(s.pid) if s.pid else "-"
        click.echo(f"{s.name:<14}{state}{pid:<9}{s.port or '-'!s:<7}{s.endpoint}")
        if s.detail:
            click.echo(f"{'':<14}{s.detail}")


main.add_command(produce)
main.add_command(process)
main.add_command(db)
main.add_command(audit)
main.add_command(report)
main.add_command(run)
main.add_command(slo)
main.add_command(alerts)
main.add_command(dashboards)
main.add_command(chaos)
main.add_command(exchange)
main.add_command(loadtest)
main.add_command(bench)


if __name__ == "__main__":  # pragma: no cover
    main()
