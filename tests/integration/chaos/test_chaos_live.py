"""Chaos experiments for real, through `cryptopipe chaos run`, on a 3-broker stack with
Toxiproxy of this module's own and a pipeline under load; and each experiment deviating when
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
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cryptopipe.chaos import pipeline
from cryptopipe.chaos.settings import ChaosSettings, experiments_dir
from cryptopipe.stack import kafka
from cryptopipe.stack.manager import Stack, tail
from cryptopipe.stack.process import wait_until
from tests.conftest import RunningStack, port_base, stack_settings_for
from tests.support.monitoring import Monitoring, fresh_monitoring

pytestmark = [pytest.mark.chaos, pytest.mark.kafka, pytest.mark.mysql, pytest.mark.spark]

SEED_SPAN_S = 5 * 3600


@dataclass(frozen=True)
class ChaosRig:
    settings: ChaosSettings
    env: dict[str, str]
    monitoring: Monitoring | None

    def chaos(self, tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "cryptopipe.cli",
                "--log-format",
                "text",
                "chaos",
                "run",
                "--no-start",
                "--journal-dir",
                str(tmp),
                *args,
            ],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )

    def run_ok(self, tmp: Path, name: str, alert: str = "-") -> dict[str, Any]:
        """Run experiment ``name`` for real: completed, not deviated, ``alert`` (or none) in the
        summary, nothing lost or double counted; its journal."""
        proc = self.chaos(tmp, name)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-4000:]
        row = next(line.split() for line in proc.stdout.splitlines() if line.startswith(name))
        # experiment, status, deviated, alert..., recovery s, lost, double
        assert row[:3] == [name, "completed", "no"], out[-3000:]
        assert (row[3] == "-") if alert == "-" else (alert in " ".join(row)), row
        assert float(row[-3]) >= 0 and row[-2:] == ["0", "0"], row
        journal: dict[str, Any] = json.loads((tmp / f"{name}.json").read_text())
        assert journal["steady_states"]["after"]["steady_state_met"] is True
        return journal

    def deviate(
        self, tmp: Path, name: str, edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
    ) -> tuple[dict[str, Any], str]:
        """Run experiment ``name`` with its method edited by ``edit`` (a fault made worse than
        the pipeline can take, a repair removed) and only its freshness probe as the
        hypothesis, so it fails fast: it must deviate. Its journal and the summary."""
        doc = json.loads((experiments_dir() / f"{name}.json").read_text())
        doc["method"] = edit(doc["method"])
        hypothesis = doc["steady-state-hypothesis"]
        hypothesis["probes"] = [
            p for p in hypothesis["probes"] if p["name"] == "freshness-under-30s"
        ]
        folder = tmp / "experiments"
        folder.mkdir()
        (folder / f"{name}-worse.json").write_text(json.dumps(doc))
        proc = self.chaos(
            tmp / "journals",
            f"{name}-worse",
            CRYPTOPIPE_CHAOS_EXPERIMENTS_DIR=str(folder),
            CRYPTOPIPE_CHAOS_AUDIT_WAIT_S="20",
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, out[-4000:]
        journal: dict[str, Any] = json.loads((tmp / "journals" / f"{name}-worse.json").read_text())
        assert journal["steady_states"]["before"]["steady_state_met"] is True, out[-3000:]
        assert journal["deviated"] is True, out[-3000:]
        return journal, proc.stdout

    def query(self, promql: str) -> list[dict[str, Any]]:
        assert self.monitoring is not None, "a rig without its Prometheus"
        return self.monitoring.query(promql)

    def recovered(self, within_s: float = 300) -> None:
        assert pipeline.wait_fresh(self.settings, within_s), "the pipeline did not recover"

    def proxy(self, name: str) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.settings.toxiproxy_port}/proxies/{name}"
        with urllib.request.urlopen(url, timeout=5) as resp:
            data: dict[str, Any] = json.load(resp)
        return data


# the chaos cluster's ports: base + CLUSTER_OFFSET + the usual suffixes (90..316; Toxiproxy on
# +74, this module's Prometheus/Alertmanager pairs on +85..+88), i.e. base+274..+516: clear of
# the session stack's (+85..+474) and of the other 3-broker cluster's (base+500: +590..+813)
CLUSTER_OFFSET = 200


@pytest.fixture(scope="module")
def chaos_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A 3-broker stack with Toxiproxy of this module's own (the trades topic at RF 3 and
    min.insync.replicas 2, as the stack creates it for 3 brokers), so that every experiment,
    broker losses included, runs on one cluster and one processor JVM start-up is paid."""
    base = port_base() + CLUSTER_OFFSET
    settings = stack_settings_for(
        tmp_path_factory.mktemp("chaos-cluster"),
        base,
        brokers=3,
        toxiproxy=True,
        toxiproxy_port=base + 74,
    )
    the_stack = Stack(settings)
    try:
        the_stack.up()
        yield RunningStack(settings, the_stack)
    finally:
        the_stack.down()


@pytest.fixture(scope="module")
def rig(
    chaos_cluster: RunningStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ChaosRig]:
    tag = uuid.uuid4().hex[:5].upper()
    symbols = f"CX{tag}AUSDT,CX{tag}BUSDT"
    cluster = chaos_cluster.settings
    base = port_base() + CLUSTER_OFFSET
    fields = {"chaos_symbols": symbols, "chaos_audit_wait_s": 240.0}
    settings = ChaosSettings(**{**cluster.model_dump(), **fields})
    started = pipeline.start(
        settings,
        {"CRYPTOPIPE_AUDIT_SYMBOLS": symbols, "CRYPTOPIPE_QUERY_NAME": f"chaos-{tag.lower()}"},
    )
    assert started == ["producer", "processor", "audit"], "another pipeline is running"
    try:
        if not pipeline.wait_fresh(settings, 600):
            logs = "\n".join(
                f"--- {n}\n{tail(Stack(settings).process(n).log_file, 15)}" for n in started
            )
            raise AssertionError(f"the chaos pipeline does not commit\n{logs}")
        env = {
            **chaos_cluster.env(),
            "CRYPTOPIPE_STATE_DIR": str(settings.state_dir),
            "CRYPTOPIPE_BROKERS": "3",
            "CRYPTOPIPE_TOXIPROXY_PORT": str(settings.toxiproxy_port),
            "CRYPTOPIPE_CHAOS_SYMBOLS": symbols,
            "CRYPTOPIPE_CHAOS_AUDIT_WAIT_S": "240",
        }
        with monitored(ChaosRig(settings, env, None), tmp_path_factory, base + 85) as watched:
            yield watched
    finally:
        pipeline.stop(settings)


@contextmanager
def monitored(
    rig: ChaosRig, tmp_path_factory: pytest.TempPathFactory, port: int
) -> Iterator[ChaosRig]:
    """``rig`` with a Prometheus (on ``port``) and an Alertmanager (``port`` + 1) of its own,
    started now with hours of healthy history written in, as a production one would have."""
    settings = rig.settings
    mon_settings = settings.model_copy(
        update={
            "state_dir": tmp_path_factory.mktemp("chaos-monitoring"),
            "prometheus_port": port,
            "alertmanager_port": port + 1,
        }
    )
    seed = (settings.symbol_set(), int(time.time()), SEED_SPAN_S, settings.chaos_rate)
    with fresh_monitoring(mon_settings, seed) as mon:
        mine = "|".join(settings.symbol_set())

        def scraping() -> bool:
            up = mon.query('up{job=~"cryptopipe-(producer|processor|audit)"} == 1')
            fresh = mon.query(f'cryptopipe:freshness_slice:eligible{{symbol=~"{mine}"}}')
            return len(up) == 3 and len(fresh) == 2

        assert wait_until(scraping, 90), "the fresh Prometheus does not see the pipeline"
        env = {
            **rig.env,
            "CRYPTOPIPE_PROMETHEUS_PORT": str(port),
            "CRYPTOPIPE_ALERTMANAGER_PORT": str(port + 1),
        }
        yield ChaosRig(settings, env, mon)


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
    fresh_rig: ChaosRig, tmp_path: Path
) -> None:
    rig = fresh_rig
    doc = json.loads((experiments_dir() / "kafka-partition.json").read_text())
    doc["method"] = [a for a in doc["method"] if not a["name"].startswith("heal-partition")]
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
    fresh_rig: ChaosRig, tmp_path: Path
) -> None:
    """kafka-quorum-loss without its repair and its alert waits, 32 s long: the one-broker
    loss made worse. Writes stop (freshness past the hypothesis's 30 s: deviated), the
    producer holds its trades back instead of failing, and the rollback starts both brokers;
    the next experiment's hypothesis audits that every trade landed once."""
    rig = fresh_rig

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
