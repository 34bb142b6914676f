"""Chaos experiments for real, through `cryptopipe chaos run`, on the chaos package's 3-broker
stack with Toxiproxy and its pipeline under load (conftest.py); and each experiment deviating when
its fault is made worse than the pipeline can take (an experiment that cannot fail proves
nothing). The deviation runs are short; the mariadb-outage run comes after them, so its
hypothesis's audit also proves that nothing was lost through them.

The experiments' alerts are read from a Prometheus + Alertmanager started for this module once
the pipeline is healthy, with hours of healthy history written in (tests/support/monitoring.py),
as a production Prometheus would have.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cryptopipe.chaos import pipeline
from cryptopipe.chaos.settings import experiments_dir
from cryptopipe.stack import kafka
from cryptopipe.stack.manager import Stack
from tests.conftest import port_base
from tests.support.chaos_rig import CLUSTER_OFFSET, ChaosRig, monitored

pytestmark = [pytest.mark.chaos, pytest.mark.kafka, pytest.mark.mysql, pytest.mark.spark]


@pytest.fixture(scope="module")
def rig(chaos_rig: ChaosRig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosRig]:
    """The package's rig (conftest.py) watched by this module's Prometheus + Alertmanager."""
    port = port_base() + CLUSTER_OFFSET + 85
    with monitored(chaos_rig, tmp_path_factory, port) as watched:
        yield watched


@pytest.fixture
def fresh_rig(rig: ChaosRig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosRig]:
    """The rig watched by a Prometheus started now with healthy history, for the runs that
    spend the freshness budget. The 1 h window of the freshness page holds 7.2 % of bad slices
    (about 260 s of stale data) before it pages; the real runs together come close to that, so
    on one Prometheus the deviation runs after them would find a page firing, and `chaos run`
    waits for it to resolve before starting. A fresh one is what experiments spaced an hour
    apart would see."""
    with monitored(rig, tmp_path_factory, port_base() + CLUSTER_OFFSET + 87) as fresh:
        yield fresh


@pytest.fixture(scope="module")
def deviation_rig(rig: ChaosRig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosRig]:
    """One such fresh Prometheus for the two short deviation runs of the default suite: together
    they stay far below that budget (the unhealed partition about 50 s of stale data, the quorum
    loss about 40 s), so the second finds no page latched by the first."""
    with monitored(rig, tmp_path_factory, port_base() + CLUSTER_OFFSET + 83) as fresh:
        yield fresh


def test_a_30s_partition_between_producer_and_kafka_pages_nobody_and_loses_nothing(
    rig: ChaosRig, tmp_path: Path
) -> None:
    t0 = time.time()
    proc = rig.chaos(tmp_path, "kafka-partition")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    row = next(line.split() for line in proc.stdout.splitlines() if line.startswith("kafka-"))
    # experiment, status, deviated, alert, recovery s, lost, double
    assert row[:4] == ["kafka-partition", "completed", "no", "-"], out[-3000:]
    assert float(row[4]) >= 0 and row[5:] == ["0", "0"], row
    journal = json.loads((tmp_path / "kafka-partition.json").read_text())
    assert journal["steady_states"]["after"]["steady_state_met"] is True
    # the fault reached the producer through the brokers' advertised CHAOS listener: its
    # trades stopped landing, so freshness rose above the 15 s SLI threshold for a while
    mine = "|".join(rig.settings.symbol_set())
    window = f"{int(time.time() - t0) + 5}s"
    worst = rig.query(
        f'max(max_over_time(cryptopipe_processor_freshness_seconds{{symbol=~"{mine}"}}[{window}]))'
    )
    assert worst and float(worst[0]["value"][1]) > 20, worst
    assert all(rig.proxy(f"kafka-{i}")["enabled"] for i in (1, 2, 3))


def _without(*names: str) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    def edit(method: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [a for a in method if a["name"] not in names]

    return edit


def _args(method: list[dict[str, Any]], name: str) -> dict[str, Any]:
    args: dict[str, Any] = next(a for a in method if a["name"] == name)["provider"]["arguments"]
    return args


def _broker_pids(rig: ChaosRig) -> dict[str, int | None]:
    stack = Stack(rig.settings)
    return {n: stack.process(n).pid() for n in ("kafka-1", "kafka-2", "kafka-3")}


def test_one_of_three_brokers_killed_pages_nobody_and_loses_nothing(
    rig: ChaosRig, tmp_path: Path
) -> None:
    before = _broker_pids(rig)
    journal = rig.run_ok(tmp_path, "kafka-broker-loss")
    kill = next(r for r in journal["run"] if r["activity"]["name"] == "kill-9-broker-2")
    assert kill["output"]["pid"] == before["kafka-2"]
    after = _broker_pids(rig)
    assert after["kafka-2"] not in (None, before["kafka-2"]), "broker 2 was killed and restarted"
    assert after["kafka-1"] == before["kafka-1"] and after["kafka-3"] == before["kafka-3"]
    # the restart waited for every partition's full ISR again (RF 3)
    assert kafka.topics_ready(rig.settings)


def test_mariadb_down_for_60s_pages_nobody_and_loses_nothing(rig: ChaosRig, tmp_path: Path) -> None:
    pid = Stack(rig.settings).process("mariadb").pid()
    rig.run_ok(tmp_path, "mariadb-outage")
    assert Stack(rig.settings).process("mariadb").pid() not in (None, pid)


def test_kill_9_of_the_processor_pages_target_down_resolves_and_loses_nothing(
    rig: ChaosRig, tmp_path: Path
) -> None:
    proc = rig.chaos(tmp_path, "processor-kill")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    row = next(line for line in proc.stdout.splitlines() if line.startswith("processor-kill"))
    assert "completed  no" in row and "CryptopipeTargetDown after" in row, out[-3000:]
    assert row.split()[-2:] == ["0", "0"], row
    journal = json.loads((tmp_path / "processor-kill.json").read_text())
    fired = next(
        r["output"] for r in journal["run"] if r["activity"]["name"] == "target-down-pages"
    )
    assert fired["labels"]["service"] == "processor" and fired["labels"]["severity"] == "page"
    # the processor was restarted from its checkpoint by the experiment, not by this test
    assert Stack(rig.settings).process("processor").is_running()


def test_the_partition_that_never_heals_deviates_and_the_rollback_heals_it(
    deviation_rig: ChaosRig, tmp_path: Path
) -> None:
    rig = deviation_rig
    doc = json.loads((experiments_dir() / "kafka-partition.json").read_text())
    # without its heal and the 30 s page watch after it (what pages is the real run's test):
    # the hypothesis comes ~45 s into a partition that never heals
    doc["method"] = [
        a
        for a in doc["method"]
        if not a["name"].startswith("heal-partition") and a["name"] != "no-page-after"
    ]
    for activity in doc["method"]:
        if activity["name"] == "caught-up":
            activity["provider"]["arguments"]["within_s"] = 15
    folder = tmp_path / "experiments"
    folder.mkdir()
    (folder / "partition-unhealed.json").write_text(json.dumps(doc))
    proc = rig.chaos(
        tmp_path / "journals",
        "partition-unhealed",
        CRYPTOPIPE_CHAOS_EXPERIMENTS_DIR=str(folder),
        CRYPTOPIPE_CHAOS_AUDIT_WAIT_S="20",
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-4000:]
    assert "partition-unhealed: caught-up: " in proc.stdout, proc.stdout
    journal = json.loads((tmp_path / "journals" / "partition-unhealed.json").read_text())
    assert journal["deviated"] is True, "freshness is out of tolerance after the method"
    # the rollback (always) enabled the proxy again: the pipeline catches up
    assert all(rig.proxy(f"kafka-{i}")["enabled"] for i in (1, 2, 3))
    assert pipeline.wait_fresh(rig.settings, 300), "the pipeline did not recover"
    assert os.path.exists(tmp_path / "journals" / "partition-unhealed.log")


def test_two_of_three_brokers_lost_stop_the_writes_deviates_and_the_rollback_restores_them(
    deviation_rig: ChaosRig, tmp_path: Path
) -> None:
    """kafka-quorum-loss without its repair and its alert waits, 32 s long: the one-broker
    loss made worse. Writes stop (freshness past the hypothesis's 30 s: deviated), the
    producer holds its trades back instead of failing, and the rollback starts both brokers;
    the next experiment's hypothesis audits that every trade landed once."""
    rig = deviation_rig

    def edit(method: list[dict[str, Any]]) -> list[dict[str, Any]]:
        method = _without("restart-brokers", "freshness-page-resolves")(method)
        fired = next(a for a in method if a["name"] == "freshness-pages")
        # instead of waiting for the page (minutes): the outage lasts 32 s
        fired["name"] = "outage-no-page-yet"
        fired["provider"] = {
            "type": "python",
            "module": "cryptopipe.chaos.probes",
            "func": "none_fired",
            "arguments": {"severity": "page", "for_s": 32},
        }
        _args(method, "caught-up")["within_s"] = 5
        return method

    producer = Stack(rig.settings).process("producer")
    producer_pid = producer.pid()
    t0 = time.time()
    journal, summary = rig.deviate(tmp_path, "kafka-quorum-loss", edit)
    assert "kafka-quorum-loss-worse: caught-up: " in summary, summary
    after = journal["steady_states"]["after"]["probes"][0]
    assert after["tolerance_met"] is False, "freshness went past 30 s: nothing was written"
    # the rollback started both brokers again; the producer held back, it did not fail
    assert all(_broker_pids(rig).values())
    assert producer.pid() == producer_pid
    window = f"{int(time.time() - t0) + 5}s"
    queued = rig.query(f"max(max_over_time(cryptopipe_producer_queue_depth_messages[{window}]))")
    assert queued and float(queued[0]["value"][1]) > 1000, queued
    rig.recovered()


# CI budget: its own fresh Prometheus and ~60 s; runs with -m heavy (with the real run)
@pytest.mark.heavy
def test_mariadb_slower_than_the_processor_can_take_deviates_and_the_toxic_is_removed(
    fresh_rig: ChaosRig, tmp_path: Path
) -> None:
    """mariadb-slow with 45 s instead of 1 s per reply and its removal left out, 30 s long."""
    rig = fresh_rig

    def edit(method: list[dict[str, Any]]) -> list[dict[str, Any]]:
        method = _without("remove-latency", "no-page-after")(method)
        _args(method, "mariadb-replies-1s-late")["latency"] = 45_000
        _args(method, "no-page-while-slow")["for_s"] = 30
        _args(method, "caught-up")["within_s"] = 5
        return method

    journal, _ = rig.deviate(tmp_path, "mariadb-slow", edit)
    toxic = next(r for r in journal["run"] if r["activity"]["name"] == "mariadb-replies-1s-late")
    assert toxic["status"] == "succeeded"
    assert rig.proxy("mariadb")["toxics"] == [], "the rollback removes every toxic"
    rig.recovered()


# CI budget: its own fresh Prometheus and ~60 s; runs with -m heavy (with the real run)
@pytest.mark.heavy
def test_kafka_slower_than_the_producer_can_take_deviates_and_the_toxics_are_removed(
    fresh_rig: ChaosRig, tmp_path: Path
) -> None:
    """kafka-latency with 40 s instead of 500 ms per reply and its removal left out, 30 s long."""
    rig = fresh_rig

    def edit(method: list[dict[str, Any]]) -> list[dict[str, Any]]:
        method = [a for a in method if not a["name"].startswith("remove-latency")]
        method = _without("no-page-after")(method)
        for i in (1, 2, 3):
            _args(method, f"kafka-{i}-replies-500ms-late")["latency"] = 40_000
        _args(method, "no-page-while-slow")["for_s"] = 30
        _args(method, "caught-up")["within_s"] = 5
        return method

    rig.deviate(tmp_path, "kafka-latency", edit)
    for i in (1, 2, 3):
        assert rig.proxy(f"kafka-{i}")["toxics"] == [], "the rollback removes every toxic"
    rig.recovered()


def test_after_the_deviation_runs_every_trade_landed_once(rig: ChaosRig) -> None:
    """The deviation runs stop writes and commits for a while; after their rollbacks the
    audit (the experiments' completeness probe, outside `chaos run`, which would wait for the
    freshness pages they latched to resolve) finds every trade counted exactly once."""
    rig.recovered()
    probe = (
        "import json; from cryptopipe.chaos.probes import audit_complete; "
        "print(json.dumps(audit_complete()))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        env=rig.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["ok"] is True and report["missing"] == 0, report
    assert report["double_counted"] == 0, report


@pytest.mark.heavy
@pytest.mark.parametrize(
    ("name", "alert"),
    [
        ("mariadb-slow", "-"),
        ("kafka-latency", "-"),
        ("kafka-quorum-loss", "CryptopipeFreshnessBudgetBurn after"),
    ],
)
def test_the_long_experiments_for_real(
    fresh_rig: ChaosRig, tmp_path: Path, name: str, alert: str
) -> None:
    """Minutes each (the quorum loss waits for a burn-rate page and its resolution): not in CI,
    run with `-m heavy`; docs/chaos.md has their figures."""
    rig = fresh_rig
    rig.run_ok(tmp_path, name, alert)
    assert all(_broker_pids(rig).values())
    for proxy in ("mariadb", "kafka-1", "kafka-2", "kafka-3"):
        assert rig.proxy(proxy)["toxics"] == []
