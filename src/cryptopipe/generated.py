"""Generated files kept in the repo (rules, dashboards): write them, or check they are current.

Every generator of the project (``cryptopipe slo generate``, ``cryptopipe dashboards generate``)
renders its files to text first; this module is the one place that compares that text with the
committed files (``--check``: a unified diff and exit 1) or writes it.
"""

from __future__ import annotations

import difflib
import logging
import sys
from pathlib import Path

import click

logger = logging.getLogger(__name__)


def stale(files: dict[str, str], out_dir: Path) -> list[str]:
    """Unified diffs of the committed files that differ from ``files`` (empty: up to date)."""
    diffs = []
    for name, text in files.items():
        path = out_dir / name
        current = path.read_text() if path.exists() else ""
        if current != text:
            diffs.append(
                "".join(
                    difflib.unified_diff(
                        current.splitlines(keepends=True),
                        text.splitlines(keepends=True),
                        fromfile=str(path),
                        tofile=f"{path} (generated)",
                    )
                )
            )
    return diffs


def write_or_check(
    files: dict[str, str], out_dir: Path, *, check: bool, what: str, command: str
) -> None:
    """Write ``files`` into ``out_dir``; with ``check``, write nothing and exit 1 with a diff
    when a committed file differs (``what`` they are and the ``command`` that regenerates
    them are named in the error)."""
    if check:
        diffs = stale(files, out_dir)
        if diffs:
            sys.stdout.writelines(diffs)
            click.secho(
                f"error: generated {what} differ from the committed files; run `{command}`",
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
