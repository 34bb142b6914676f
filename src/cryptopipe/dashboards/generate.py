"""Render every dashboard to its JSON file text (sorted keys, stable uids and panel ids)."""

from __future__ import annotations

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


def load_all(out_dir: Path = DEFAULT_OUT_DIR) -> dict[str, dict[str, Any]]:
    """The committed dashboards, by file name (what Grafana provisions)."""
    return {name: json.loads((out_dir / name).read_text()) for name in BOARDS}
