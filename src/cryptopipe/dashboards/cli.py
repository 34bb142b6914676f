"""`cryptopipe dashboards generate [--check]`: Grafana dashboards as code."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from cryptopipe.dashboards.generate import DEFAULT_OUT_DIR, render_all
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
