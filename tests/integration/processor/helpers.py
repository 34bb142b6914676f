"""Helpers shared by the tests of this folder."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from cryptopipe.processor.metrics import ProcessorMetrics
from tests.integration.processor.conftest import StackFixture, query


def start_processor(
    stack: StackFixture,
    topic: str,
    checkpoint: Path,
    log: Path,
    *extra: str,
    env_extra: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    env = stack.env()
    env.update(
        {
            "CRYPTOPIPE_TOPIC_TRADES": topic,
            "CRYPTOPIPE_TOPIC_DLQ": f"{topic}.dlq",
            "CRYPTOPIPE_CHECKPOINT_DIR": str(checkpoint),
            "CRYPTOPIPE_MAX_OFFSETS_PER_TRIGGER": "2000",
            "CRYPTOPIPE_TRIGGER_INTERVAL_S": "0.5",
            **(env_extra or {}),
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "cryptopipe.processor.cli", *extra],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the Spark JVM dies with it
    )


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def processed_messages(stack: StackFixture) -> int:
    return int(query(stack, "SELECT COALESCE(SUM(input_rows), 0) FROM processor_batches")[0][0])


def wait_processed(
    stack: StackFixture, proc: subprocess.Popen[bytes], n: int, log: Path, timeout_s: float
) -> None:
    """Until the ledger counts ``n`` messages processed; fails if ``proc`` dies or time is up."""
    deadline = time.monotonic() + timeout_s
    while processed_messages(stack) < n:
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)


def committed_batches(stack: StackFixture) -> int:
    return int(query(stack, "SELECT COUNT(*) FROM processor_batches")[0][0])


def mariadb_pid(stack: StackFixture) -> int:
    """The pid of this test stack's own mariadbd (from its pid file under the state dir)."""
    pid = stack.stack.process("mariadb").pid()
    assert pid is not None, "the test stack's MariaDB is not running"
    return int(pid)


def sample(metrics: ProcessorMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels or None)
    return 0.0 if value is None else float(value)
