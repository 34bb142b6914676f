"""`cryptopipe dashboards generate [--check]` and `push`: Grafana dashboards as code."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from cryptopipe.dashboards.generate import DEFAULT_OUT_DIR, load_all, render_all
from cryptopipe.dashboards.push import DEFAULT_FOLDER, PushError, push_all
from cryptopipe.generated import write_or_check

logger = logging.getLogger(__name__)


@click.group()
def dashboards() -> None:
    """Grafana dashboards (dashboards/*.json, docs/dashboards.md)."""


@dashboards.command("generate")
@click.option(
    "--out-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_OUT_DIR,
    show_default=True,
    help="Where the dashboard JSON files are written.",
)
@click.option(
    "--check", is_flag=True, help="Write nothing; exit 1 with a diff if the files differ."
)
def generate(out_dir: Path, check: bool) -> None:
    """Generate dashboards/*.json with grafana-foundation-sdk."""
    write_or_check(
        render_all(),
        out_dir,
        check=check,
        what="dashboards",
        command="cryptopipe dashboards generate",
    )


@dashboards.command("push")
@click.option("--url", required=True, envvar="CRYPTOPIPE_GRAFANA_URL", help="Grafana's base URL.")
@click.option(
    "--token",
    required=True,
    envvar="CRYPTOPIPE_GRAFANA_TOKEN",
    help="A Grafana service account token (Editor); env CRYPTOPIPE_GRAFANA_TOKEN.",
)
@click.option("--folder", default=DEFAULT_FOLDER, show_default=True, help="Grafana folder.")
@click.option(
    "--overwrite/--no-overwrite",
    default=True,
    show_default=True,
    help="Replace dashboards Grafana already has (uid or title in the folder).",
)
@click.option(
    "--dir",
    "in_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=DEFAULT_OUT_DIR,
    show_default=True,
    help="Where the generated dashboard JSON files are.",
)
def push(url: str, token: str, folder: str, overwrite: bool, in_dir: Path) -> None:
    """Upload dashboards/*.json to a Grafana (folder created if missing)."""
    try:
        done = push_all(url, token, load_all(in_dir), folder=folder, overwrite=overwrite)
    except PushError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)
    for p in done:
        click.echo(f"{p.name}: {url.rstrip('/')}{p.url} (version {p.version})")
