"""Faults and repairs, called by the experiments as Chaos Toolkit Python actions.

Each function builds the settings from the environment (CRYPTOPIPE_*, the same variables as
every cryptopipe command) and returns a JSON-able dict, which the journal keeps. Network faults
go through chaostoolkit-toxiproxy's own actions (``chaostoxi``) in the experiments; these cover
processes.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

from cryptopipe.chaos import pipeline, timeline
from cryptopipe.chaos.settings import ChaosSettings
from cryptopipe.runner.cli import PIPELINE
from cryptopipe.stack.manager import Stack
from cryptopipe.stack.process import wait_until

logger = logging.getLogger(__name__)

PIPELINE_SERVICES = frozenset((*PIPELINE, pipeline.EXCHANGE))


def _signal(name: str, sig: str) -> dict[str, Any]:
    settings = ChaosSettings()
    proc = Stack(settings).process(name)
    pid = proc.pid()
    if pid is None:
        raise RuntimeError(f"{name} is not running: nothing to signal")
    proc.kill(signal.Signals[sig])
    timeline.record(settings, "repair" if sig == "SIGCONT" else "fault")
    logger.info("sent %s to %s (pid %d, its whole process group)", sig, name, pid)
    return {"service": name, "pid": pid, "signal": sig, "at": time.time()}


def kill_service(name: str, sig: str = "SIGKILL") -> dict[str, Any]:
    """``kill -9`` (by default) a service's whole process group: no shutdown hook runs."""
    out = _signal(name, sig)
    proc = Stack(ChaosSettings()).process(name)
    if sig == "SIGKILL" and not wait_until(lambda: not proc.is_running(), 30):
        raise RuntimeError(f"{name} still runs 30 s after SIGKILL")
    return out


def freeze_service(name: str) -> dict[str, Any]:
    """SIGSTOP: the process hangs without exiting (a stuck JVM, a paused VM)."""
    return _signal(name, "SIGSTOP")


def thaw_service(name: str) -> dict[str, Any]:
    """SIGCONT after ``freeze_service``; a no-op if the service is not running."""
    proc = Stack(ChaosSettings()).process(name)
    if proc.pid() is None:
        return {"service": name, "signal": "SIGCONT", "running": False}
    return _signal(name, "SIGCONT")


def start_service(name: str, timeout_s: float = 180.0) -> dict[str, Any]:
    """Start a killed service again: a pipeline service with the command it was started with
    (the processor resumes from its checkpoint), a stack server by `stack up` (idempotent)."""
    settings = ChaosSettings()
    stack = Stack(settings)
    t0 = time.monotonic()
    if name in PIPELINE_SERVICES:
        pid = pipeline.restart(settings, name)
    else:
        stack.up()
        pid = stack.process(name).pid() or 0
    timeline.record(settings, "repair")
    logger.info("started %s again (pid %d) in %.1fs", name, pid, time.monotonic() - t0)
    return {"service": name, "pid": pid, "seconds": round(time.monotonic() - t0, 3)}


def mark(event: str) -> dict[str, Any]:
    """Note when the fault began (``fault``) or its repair (``repair``), for the probes that
    time the alerts and the recovery; the process actions mark themselves."""
    at = timeline.record(ChaosSettings(), event)
    return {"event": event, "at": at}
