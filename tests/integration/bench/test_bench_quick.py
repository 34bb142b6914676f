"""`cryptopipe bench all --quick` on the test stack, once: the files a user gets and what they
say about correctness (not the figures: this shared machine's numbers are the run's finding)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cryptopipe.bench import report
from cryptopipe.bench.model import OURS, STAGES
from tests.conftest import RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.spark, pytest.mark.kafka, pytest.mark.mysql]
REPO = Path(__file__).resolve().parents[3]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MACHINE_FIELDS = {"cpu_model", "cores", "memory_gib", "load_average_before", "load_average_after"}
VERSIONS = {"cryptopipe", "python", "kafka", "spark", "mariadb"}


@pytest.fixture(scope="module")
def run(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    cli = [sys.executable, "-m", "cryptopipe.cli", "--log-format", "text", "bench", "all"]
    proc = subprocess.run(
        [*cli, "--quick", "--out", str(out)],
        env=stack.env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = proc.stdout[-6000:] + proc.stderr[-6000:]
    assert (out / report.RESULTS_JSON).exists(), output
    return {
        "proc": proc,
        "output": output,
        "out": out,
        "results": json.loads((out / report.RESULTS_JSON).read_text()),
    }


def systems(run: dict[str, Any], stage: str) -> dict[str, dict[str, Any]]:
    return {s["system"]: s for s in run["results"]["stages"][stage]["systems"]}


def test_every_stage_ran_ours_and_its_peers_and_the_exit_code_says_whether_ours_held(
    run: dict[str, Any],
) -> None:
    results, output = run["results"], run["output"]
    assert set(results["stages"]) == set(STAGES), output
    assert results["quick"] is True and results["command"] == "cryptopipe bench all --quick"
    ours = [systems(run, stage)[OURS] for stage in STAGES]
    ours_ok = all(s["error"] is None and s["correct"] is not False for s in ours)
    assert run["proc"].returncode == (0 if ours_ok else 1), output
    for stage in ("producer", "processor"):
        found = systems(run, stage)
        assert len(found) >= 4, (stage, list(found))  # ours and at least three peers
        for name, s in found.items():
            # a system either ran (a rate, and a ratio to ours) or says why it did not
            assert (s["trades_per_s"] is not None) != (s["error"] is not None), (name, s)
            if s["trades_per_s"] is not None:
                assert s["ratio_to_ours"] is not None, (name, s)
            assert all(f["unit"] for f in s["figures"]), s
        assert systems(run, stage)[OURS]["ratio_to_ours"] == 1.0
        assert results["stages"][stage]["data"], stage  # the same trades for every system


def test_the_trades_into_kafka_arrive_once_and_the_candles_are_checked_against_exact(
    run: dict[str, Any],
) -> None:
    producer = systems(run, "producer")
    assert producer[OURS]["correct"] is True, producer[OURS]
    processor = systems(run, "processor")
    assert processor[OURS]["correct"] is True, processor[OURS]
    # a fast wrong answer is reported as wrong: first/last without ordering and float prices
    naive = [s for name, s in processor.items() if "naive" in name.lower()]
    assert naive and naive[0]["correct"] is False, list(processor)


def test_e2e_has_a_latency_point_per_rate_with_a_complete_audit(run: dict[str, Any]) -> None:
    (e2e,) = run["results"]["stages"]["e2e"]["systems"]
    points = e2e["points"]
    assert [p["rate"] for p in points] == [500.0, 5000.0]
    for p in points:
        assert p["audit_complete"] is True, p
        assert p["achieved_rate"] and p["p50_s"] is not None and p["p99_s"] >= p["p50_s"], p


def test_the_files_a_person_reads(run: dict[str, Any]) -> None:
    out, results = run["out"], run["results"]
    m = results["machine"]
    assert set(m) >= MACHINE_FIELDS
    assert {k for k, v in m["versions"].items() if v} >= VERSIONS
    md = (out / report.RESULTS_MD).read_text()
    assert md == report.render_markdown(results)  # the page is the record, rendered
    for stage in STAGES:
        for name in systems(run, stage):
            assert name in md
    assert set(results["plots"]) == set(STAGES)
    for name in results["plots"].values():
        assert (out / name).read_bytes()[:8] == PNG_MAGIC, name
        assert f"]({name})" in md
