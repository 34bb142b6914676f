"""`cryptopipe run`: the README's run command, end to end on the test stack."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from cryptopipe.stack.kafka import starting_offsets_at_end
from tests.conftest import RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.spark, pytest.mark.kafka, pytest.mark.mysql]


def test_run_shows_progress_then_stops_cleanly_with_a_complete_audit(stack: RunningStack) -> None:
    tag = uuid.uuid4().hex[:5].upper()
    symbols = f"r{tag}ausdt,r{tag}busdt".lower()
    env = {
        **stack.env(),
        "CRYPTOPIPE_QUERY_NAME": f"run-{tag.lower()}",
        # this test's processor starts at the topic's end: earlier tests' data is not its business
        "CRYPTOPIPE_STARTING_OFFSETS": starting_offsets_at_end(stack.settings),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cryptopipe.cli",
            "--log-format",
            "text",
            "run",
            "--symbols",
            symbols,
            "--rate",
            "200",
            "--duration",
            "45",
            "--interval",
            "2",
            "--drain",
            "120",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    progress = [line for line in proc.stdout.splitlines() if line.startswith("produced ")]
    assert len(progress) >= 10, proc.stdout
    assert "in MySQL" in progress[-1] and "freshness" in progress[-1]
    assert "COMPLETE: nothing missing, nothing double counted" in out, proc.stderr[-3000:]
    for name in ("producer", "processor", "audit"):
        assert f"stopped {name}" in out
    assert "Where to look:" in out

    status = subprocess.run(
        [sys.executable, "-m", "cryptopipe.cli", "stack", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    services = {s["name"]: s["state"] for s in json.loads(status.stdout)["services"]}
    assert services["kafka-1"] == "healthy", "the stack keeps running after run"
    assert all(services.get(n, "stopped") == "stopped" for n in ("producer", "processor"))
