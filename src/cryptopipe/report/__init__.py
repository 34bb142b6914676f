"""`cryptopipe report`: the dashboards drawn as HTML and PNGs for people without Grafana."""

from pathlib import Path


def default_out(state_dir: Path) -> Path:
    """Where `cryptopipe report` writes when no --out is given."""
    return state_dir / "report"
