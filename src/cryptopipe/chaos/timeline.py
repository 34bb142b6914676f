"""When the current experiment's fault began and when it was repaired (a small JSON file in
the stack's run dir), so that probes time alerts and recovery from the fault, not from
whenever they happen to start."""

from __future__ import annotations

import json
import time
from pathlib import Path

from cryptopipe.stack.settings import StackSettings

EVENTS = ("fault", "repair")


def _path(settings: StackSettings) -> Path:
    return settings.state_dir / "run" / "chaos-timeline.json"


def reset(settings: StackSettings) -> None:
    _path(settings).unlink(missing_ok=True)


def record(settings: StackSettings, event: str) -> float:
    if event not in EVENTS:
        raise ValueError(f"event must be one of {EVENTS}, not {event!r}")
    path = _path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    marks = read(settings)
    now = time.time()
    if event == "fault":  # a new fault starts a new timeline
        marks = {}
    marks.setdefault(event, now)
    path.write_text(json.dumps(marks))
    return marks[event]


def read(settings: StackSettings) -> dict[str, float]:
    try:
        return {k: float(v) for k, v in json.loads(_path(settings).read_text()).items()}
    except (OSError, ValueError):
        return {}


def since(settings: StackSettings, event: str) -> float:
    """Seconds since ``event`` (since now if it was not recorded)."""
    return time.time() - read(settings).get(event, time.time())
