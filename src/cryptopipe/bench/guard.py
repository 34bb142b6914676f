"""One system's failure is that system's result, and the run goes on with the next."""

from __future__ import annotations

import logging
from collections.abc import Callable

from cryptopipe.bench.model import Stage, SystemResult

logger = logging.getLogger(__name__)

MAX_ERROR_CHARS = 400


def short_error(exc: BaseException) -> str:
    """An exception in a line a results table can hold: a JVM error's root cause (its last
    ``Caused by:`` line), else the first line, at most MAX_ERROR_CHARS."""
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    causes = [line.removeprefix("Caused by: ") for line in lines if line.startswith("Caused by:")]
    first = causes[-1] if causes else (lines[0] if lines else "")
    out = f"{type(exc).__name__}: {first}"
    return out if len(out) <= MAX_ERROR_CHARS else out[: MAX_ERROR_CHARS - 3] + "..."


def guarded(
    stage: Stage, system: str, description: str, fn: Callable[[], SystemResult]
) -> SystemResult:
    """``fn()``, or the system's failure if it raised (logged with its traceback)."""
    try:
        return fn()
    except Exception as exc:
        logger.exception("bench %s: %s failed", stage, system)
        return SystemResult.failed(stage, system, description, short_error(exc))
