"""Render every dashboard to its JSON file text (sorted keys, stable uids and panel ids)."""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptopipe.dashboards import market, pipeline, slo

logger = logging.getLogger(__name__)

DEFAULT_OUT_DIR = Path("dashboards")
BOARDS: dict[str, Callable[[], dict[str, Any]]] = {
    "slo-overview.json": slo.dashboard,
    "pipeline-internals.json": pipeline.dashboard,
    "market.json": market.dashboard,
}


def render(board: dict[str, Any]) -> str:
    return json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_all() -> dict[str, str]:
    return {name: render(build()) for name, build in BOARDS.items()}


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


def load_all(out_dir: Path = DEFAULT_OUT_DIR) -> dict[str, dict[str, Any]]:
    """The committed dashboards, by file name (what Grafana provisions)."""
    return {name: json.loads((out_dir / name).read_text()) for name in BOARDS}
