"""`cryptopipe slo validate|generate|status`: SLOs as code."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from cryptopipe.cli_settings import build_settings
from cryptopipe.generated import write_or_check
from cryptopipe.slo import generate as gen
from cryptopipe.slo.promtool import check_queries, check_rule_text, find_promtool
from cryptopipe.slo.settings import SLOSettings
from cryptopipe.slo.spec import PERIODS, SpecError, SpecSet, load, queries
from cryptopipe.slo.status import StatusError, fetch_status, prometheus_base_url, render_table
from cryptopipe.stack.settings import StackSettings

logger = logging.getLogger(__name__)

DEFAULT_SPEC_DIR = Path("slo")
DEFAULT_OUT_DIR = Path("observability/rules")

paths_argument = click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
period_option = click.option(
    "--period",
    type=click.Choice(PERIODS),
    default=None,
    help="SLO period of Sloth specs (env CRYPTOPIPE_SLO_PERIOD; default 30d). OpenSLO specs "
    "carry their own timeWindow.",
)
promtool_option = click.option(
    "--promtool",
    "promtool",
    default=None,
    help="promtool binary that checks the queries (env CRYPTOPIPE_PROMTOOL; default: on PATH).",
)


def _fail(problems: list[str]) -> None:
    for problem in problems:
        click.secho(f"error: {problem}", fg="red", err=True)
    sys.exit(1)


def settings_from(**options: str | None) -> SLOSettings:
    """The settings: CLI options that were given, the rest from CRYPTOPIPE_* variables."""
    return build_settings(SLOSettings, **options)


def load_checked(paths: tuple[Path, ...], settings: SLOSettings) -> SpecSet:
    """Load the specs and have promtool parse every query; exits 1 with the problems."""
    try:
        spec_set = load(paths or (DEFAULT_SPEC_DIR,), settings.slo_period)
        check_queries(list(queries(spec_set)), find_promtool(settings.promtool))
    except SpecError as exc:
        _fail(exc.problems)
        raise AssertionError("unreachable") from exc
    return spec_set


@click.group()
def slo() -> None:
    """SLOs as code: Sloth/OpenSLO specs in slo/ -> Prometheus recording and alert rules."""


@slo.command("validate")
@paths_argument
@period_option
@promtool_option
def validate(paths: tuple[Path, ...], period: str | None, promtool: str | None) -> None:
    """Check the specs (default: slo/) without writing anything.

    Unknown fields, a query without {{.window}}, an objective outside (0, 100) or a query
    Prometheus cannot parse are errors naming the file and the field.
    """
    spec_set = load_checked(paths, settings_from(slo_period=period, promtool=promtool))
    for s in spec_set.slos:
        click.echo(
            f"ok  {s.id:<36} objective {gen.num(s.objective)}% over {s.period}  ({s.source})"
        )
    for h in spec_set.helpers:
        n = sum(len(g.rules) for g in h.groups)
        click.echo(f"ok  {h.service + ' helper recordings':<36} {n} rules  ({h.source})")


@slo.command("generate")
@paths_argument
@click.option(
    "--out-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_OUT_DIR,
    show_default=True,
    help="Where slo-<service>.yml files are written.",
)
@click.option(
    "--check", is_flag=True, help="Write nothing; exit 1 with a diff if the files differ."
)
@period_option
@promtool_option
def generate(
    paths: tuple[Path, ...], out_dir: Path, check: bool, period: str | None, promtool: str | None
) -> None:
    """Generate observability/rules/slo-<service>.yml from the specs (default: slo/)."""
    settings = settings_from(slo_period=period, promtool=promtool)
    spec_set = load_checked(paths, settings)
    tool = find_promtool(settings.promtool)
    files = gen.render_all(spec_set)
    for text in files.values():
        check_rule_text(text, tool)
    write_or_check(files, out_dir, check=check, what="rules", command="cryptopipe slo generate")


@slo.command("status")
@click.option(
    "--prometheus-url",
    default=None,
    help="Prometheus base URL (env CRYPTOPIPE_PROMETHEUS_URL; default: the local stack's, "
    "from CRYPTOPIPE_PROMETHEUS_PORT).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(prometheus_url: str | None, as_json: bool) -> None:
    """Each SLO's SLI now, objective, error budget remaining and burn rate per window."""
    try:
        settings = settings_from(prometheus_url=prometheus_url)
        url = settings.prometheus_url or prometheus_base_url(build_settings(StackSettings))
        rows = fetch_status(url)
    except StatusError as exc:
        _fail([str(exc)])
        return
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        click.echo(render_table(rows))
