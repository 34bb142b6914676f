"""`cryptopipe report [--since 1h] [--out DIR]`: the dashboards' panels as HTML and PNGs.

For people without Grafana: the panels of dashboards/*.json, drawn from the local stack's
Prometheus and MySQL into ``<out>/report.html`` (self-contained: opens with no network) and one
``<out>/<panel>.png`` per panel that has data. Progress goes to stderr.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cryptopipe.cli_settings import build_settings
from cryptopipe.dashboards.generate import load_all
from cryptopipe.dashboards.queries import interval_seconds
from cryptopipe.report import default_out
from cryptopipe.report.fetch import FetchError, MySQL, Prometheus, Window, pymysql_runner
from cryptopipe.stack import mariadb, prometheus
from cryptopipe.stack.settings import StackSettings

if TYPE_CHECKING:
    from cryptopipe.report.build import Drawn

logger = logging.getLogger(__name__)

REPORT_FILE = "report.html"


def render(settings: StackSettings, since_s: int, out: Path) -> tuple[Path, list[Drawn]]:
    """Fetch and draw every panel; write the page and the PNGs. Returns the page and panels."""
    # matplotlib takes seconds to import: only when a report is drawn, not for every command
    from cryptopipe.report import html  # noqa: PLC0415
    from cryptopipe.report.build import draw_board, slo_table  # noqa: PLC0415

    end = int(time.time())
    window = Window(end - since_s, end)
    prom = Prometheus(prometheus.url(settings.prometheus_port), window)
    mysql = MySQL(pymysql_runner(lambda: mariadb.reader_connection(settings)), window)
    boards = load_all()

    def progress(what: str) -> None:
        click.echo(f"  drawing {what}", err=True)

    progress("SLO table")
    slo = slo_table(boards["slo-overview.json"], prom)
    drawn = [d for name, b in boards.items() for d in draw_board(name, b, prom, mysql, progress)]
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("cryptopipe-*.png"):  # an earlier report's panels
        old.unlink()
    for d in drawn:
        if d.png is not None:
            (out / f"{d.slug}.png").write_bytes(d.png)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(end))
    with_data = sum(d.png is not None for d in drawn)
    meta = (
        f"Last {since_s}s up to {stamp}, from Prometheus {prom.base} and MySQL "
        f"{settings.mysql_host}:{settings.mysql_port}/{settings.mysql_database}; "
        f"{with_data} of {len(drawn)} panels have data."
    )
    page = out / REPORT_FILE
    page.write_text(html.page("cryptopipe report", meta, slo, drawn), encoding="utf-8")
    return page, drawn


@click.command("report")
@click.option("--since", default="1h", show_default=True, help="Time range: 15m, 1h, 6h, 1d.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Output directory (default: <state dir>/report).",
)
@click.option("--state-dir", type=click.Path(path_type=Path), default=None, help="Stack state dir.")
def report(since: str, out: Path | None, state_dir: Path | None) -> None:
    """Draw the dashboards' panels from the local stack into one HTML page and PNGs."""
    settings = build_settings(StackSettings, state_dir=state_dir)
    try:
        since_s = int(interval_seconds(since))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    target = out or default_out(settings.state_dir)
    click.echo(f"report: last {since} from the local stack into {target}", err=True)
    try:
        page, drawn = render(settings, since_s, target)
    except FetchError as exc:
        click.secho(f"error: {exc} (is the stack up? cryptopipe stack up)", fg="red", err=True)
        raise SystemExit(1) from exc
    empty = [d.title for d in drawn if d.png is None]
    click.echo(f"  {len(drawn) - len(empty)} panels drawn, {len(empty)} without data", err=True)
    click.echo(str(page))
