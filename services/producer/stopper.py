"""How a run ends: a stop flag (SIGTERM/SIGINT, tests) and optional count/duration limits."""

from __future__ import annotations

import threading
import time


class Stopper:
    """Thread-safe stop flag with an optional wall-clock duration."""

    def __init__(self, duration_s: float | None = None) -> None:
        self._event = threading.Event()
        self._deadline = None if duration_s is None else time.monotonic() + duration_s
        self.reason = ""

    def stop(self, reason: str = "stop requested") -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    @property
    def stopped(self) -> bool:
        if self._event.is_set():
            return True
        if self._deadline is not None and time.monotonic() >= self._deadline:
            self.stop("duration reached")
            return True
        return False

    def wait(self, timeout_s: float) -> bool:
        """Sleep up to ``timeout_s`` (less if stopped or the duration ends); True if stopped."""
        if self._deadline is not None:
            timeout_s = min(timeout_s, max(0.0, self._deadline - time.monotonic()))
        self._event.wait(timeout_s)
        return self.stopped
