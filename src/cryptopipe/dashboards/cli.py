"""`cryptopipe dashboards generate [--check]`: Grafana dashboards as code."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from cryptopipe.dashboards.generate import DEFAULT_OUT_DIR, render_all, stale

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
    files = render_all()
    if check:
        diffs = stale(files, out_dir)
        if diffs:
            sys.stdout.writelines(diffs)
            click.secho(
                "error: generated dashboards differ from the committed files; run `cryptopipe "
                "dashboards generate`",
                fg="red",
                err=True,
            )
            sys.exit(1)
        click.echo(f"up to date: {', '.join(str(out_dir / n) for n in files)}")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out_dir / name).write_text(text)
        click.echo(f"wrote {out_dir / name}")
