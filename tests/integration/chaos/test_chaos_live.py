"""Chaos experiments for real, through `cryptopipe chaos run`, on the session stack with
Toxiproxy and a pipeline under load; and the same experiment deviating when its fault is made
worse than the pipeline can take (an experiment that cannot fail proves nothing).

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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cryptopipe.chaos import pipeline
from cryptopipe.chaos.settings import ChaosSettings, experiments_dir
from cryptopipe.stack.manager import Stack, tail
from cryptopipe.stack.process import wait_until
from tests.conftest import RunningStack, port_base
from tests.support.monitoring import Monitoring, fresh_monitoring

pytestmark = [pytest.mark.chaos, pytest.mark.kafka, pytest.mark.mysql, pytest.mark.spark]

SEED_SPAN_S = 5 * 3600


@dataclass(frozen=True)
class ChaosRig:
    settings: ChaosSettings
    env: dict[str, str]
    monitoring: Monitoring

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

    def proxy(self, name: str) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.settings.toxiproxy_port}/proxies/{name}"
        with urllib.request.urlopen(url, timeout=5) as resp:
            data: dict[str, Any] = json.load(resp)
        return data


@pytest.fixture(scope="module")
def rig(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosRig]:
    tag = uuid.uuid4().hex[:5].upper()
    symbols = f"CX{tag}AUSDT,CX{tag}BUSDT"
    base = port_base()
    fields = {
        "toxiproxy": True,
        "toxiproxy_port": base + 474,
        "chaos_symbols": symbols,
        "chaos_audit_wait_s": 240.0,
    }
    settings = ChaosSettings(**{**stack.settings.model_dump(), **fields})
    Stack(settings).up()  # adds Toxiproxy to the running session stack
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
        mon_settings = settings.model_copy(
            update={
                "state_dir": tmp_path_factory.mktemp("chaos-monitoring"),
                "prometheus_port": base + 85,
                "alertmanager_port": base + 86,
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
                **stack.env(),
                "CRYPTOPIPE_STATE_DIR": str(settings.state_dir),
                "CRYPTOPIPE_TOXIPROXY_PORT": str(settings.toxiproxy_port),
                "CRYPTOPIPE_CHAOS_SYMBOLS": symbols,
                "CRYPTOPIPE_CHAOS_AUDIT_WAIT_S": "240",
                "CRYPTOPIPE_PROMETHEUS_PORT": str(mon_settings.prometheus_port),
                "CRYPTOPIPE_ALERTMANAGER_PORT": str(mon_settings.alertmanager_port),
            }
            yield ChaosRig(settings, env, mon)
    finally:
        pipeline.stop(settings)


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
    worst = rig.monitoring.query(
        f'max(max_over_time(cryptopipe_processor_freshness_seconds{{symbol=~"{mine}"}}[{window}]))'
    )
    assert worst and float(worst[0]["value"][1]) > 20, worst
    assert rig.proxy("kafka-1")["enabled"] is True


def test_the_partition_that_never_heals_deviates_and_the_rollback_heals_it(
    rig: ChaosRig, tmp_path: Path
) -> None:
    doc = json.loads((experiments_dir() / "kafka-partition.json").read_text())
    doc["method"] = [a for a in doc["method"] if a["name"] != "heal-partition"]
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
    assert rig.proxy("kafka-1")["enabled"] is True
    assert pipeline.wait_fresh(rig.settings, 300), "the pipeline did not recover"
    assert os.path.exists(tmp_path / "journals" / "partition-unhealed.log")


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
