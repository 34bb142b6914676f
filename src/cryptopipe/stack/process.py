"""Start, find and stop the stack's server processes through pid files under the state dir.

A pid file records the pid and the process start time (from /proc), so a recycled pid is never
mistaken for our server, and `down` stops only what the stack started.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


def _proc_start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (field 22 of /proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces; it is wrapped in parentheses
    fields = stat[stat.rindex(")") + 2 :].split()
    state = fields[0]
    if state == "Z":  # zombie: exited, not reaped yet
        return None
    return int(fields[19])


@dataclass(frozen=True, slots=True)
class ManagedProcess:
    """One server process of the stack, known by name (``kafka-1``, ``mariadb`` ...)."""

    name: str
    run_dir: Path
    log_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def start(self, argv: Sequence[str], *, env: dict[str, str] | None = None) -> int:
        """Start ``argv`` detached in its own session, output appended to the log file."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} start: {argv[0]}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                close_fds=True,
            )
        ticks = _proc_start_ticks(proc.pid)
        self.pid_file.write_text(json.dumps({"pid": proc.pid, "start_ticks": ticks}))
        logger.debug("started %s pid %d", self.name, proc.pid)
        return proc.pid

    def recorded_pid(self) -> int | None:
        """The pid from the pid file, whether or not it is still running."""
        try:
            data = json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        return int(data["pid"])

    def pid(self) -> int | None:
        """The pid if our process is alive (same pid *and* same start time), else None."""
        try:
            data = json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        pid = int(data["pid"])
        ticks = _proc_start_ticks(pid)
        if ticks is None or (data.get("start_ticks") is not None and ticks != data["start_ticks"]):
            return None
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None

    def has_record(self) -> bool:
        return self.pid_file.exists()

    def stop(self, timeout_s: float) -> StopResult | None:
        """SIGTERM the process group, SIGKILL after ``timeout_s``; None if it was not running."""
        results = stop_together([self], timeout_s)
        return results[0] if results else None

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send ``sig`` to the process group (chaos and tests); the pid file stays."""
        pid = self.pid()
        if pid is not None:
            self._signal(pid, sig)

    @staticmethod
    def _signal(pid: int, sig: signal.Signals) -> None:
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            os.kill(pid, sig)

    @staticmethod
    def _group_alive(pgid: int) -> bool:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        # the group leader may be a zombie of ours: reap it
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pgid, os.WNOHANG)
        return _proc_start_ticks(pgid) is not None or _group_has_members(pgid)


@dataclass(frozen=True, slots=True)
class StopResult:
    """How one server stopped: by SIGTERM in time, or by SIGKILL after the grace period."""

    name: str
    signal: str  # "SIGTERM" (clean) or "SIGKILL" (the fallback)
    seconds: float

    def __str__(self) -> str:
        return f"{self.name} stopped by {self.signal} after {self.seconds:.1f}s"


def stop_together(procs: Sequence[ManagedProcess], timeout_s: float) -> list[StopResult]:
    """SIGTERM every running process of ``procs`` at once, wait for all of them, SIGKILL those
    still running after ``timeout_s``; one result per process that was running.

    At once, not one by one: the nodes of a KRaft cluster (combined broker+controller) each
    need a controller quorum to finish their controlled shutdown. Stopped in turn, the last
    node is alone, cannot get its shutdown approved, and hangs until killed."""
    started = time.monotonic()
    running: dict[str, tuple[ManagedProcess, int]] = {}
    for proc in procs:
        pid = proc.pid()
        if pid is None:
            proc.pid_file.unlink(missing_ok=True)
            continue
        proc._signal(pid, signal.SIGTERM)
        running[proc.name] = (proc, pid)
    results: dict[str, StopResult] = {}

    def collect(sig: str) -> bool:
        for name, (proc, pid) in running.items():
            if name not in results and not proc._group_alive(pid):
                results[name] = StopResult(name, sig, time.monotonic() - started)
        return len(results) == len(running)

    if not wait_until(lambda: collect("SIGTERM"), timeout_s, interval_s=0.1):
        for name, (proc, pid) in running.items():
            if name not in results:
                logger.warning("%s did not stop in %.0fs, sending SIGKILL", name, timeout_s)
                proc._signal(pid, signal.SIGKILL)
        wait_until(lambda: collect("SIGKILL"), 10.0, interval_s=0.1)
    for name, (proc, _pid) in running.items():
        proc.pid_file.unlink(missing_ok=True)
        if name not in results:  # not even SIGKILL ended it within 10 s
            results[name] = StopResult(name, "SIGKILL", time.monotonic() - started)
            logger.error("%s is still running after SIGKILL", name)
    for result in results.values():
        log = logger.info if result.signal == "SIGTERM" else logger.warning
        log("%s", result)
    return [results[name] for name in running]


def _group_members(pgid: int) -> Iterator[Path]:
    """The /proc entries of the live (not zombie) processes of process group ``pgid``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            yield entry


def _group_has_members(pgid: int) -> bool:
    return next(_group_members(pgid), None) is not None


def group_rss_bytes(pgid: int) -> int:
    """Resident memory of a whole process group (a service and its children, e.g. Spark's JVM)."""
    total = 0
    for entry in _group_members(pgid):
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def wait_until(check: Callable[[], bool], timeout_s: float, *, interval_s: float = 0.5) -> bool:
    """Poll ``check`` until it is true or ``timeout_s`` passes; exceptions count as false."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():
                return True
        except Exception:
            logger.debug("probe not ready", exc_info=True)
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
