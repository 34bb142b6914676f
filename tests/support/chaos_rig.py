"""The chaos rig of the live chaos experiments (tests/integration/chaos), run through
`cryptopipe chaos run --no-start`: ONE 3-broker stack with Toxiproxy of its own (the trades
topic at RF 3 and min.insync.replicas 2, as the stack creates it for 3 brokers) and ONE chaos
pipeline under load on it, shared by every chaos module so that one cluster and one processor
JVM start-up are paid. The load comes from the served exchange (`cryptopipe exchange serve`,
read with --source binance), as `cryptopipe chaos run --all` runs every experiment, so the
exchange's faults and a kill -9 reach the real producer too.

Alerts are read from a Prometheus + Alertmanager of a module's own (``monitored``), started once
the pipeline is healthy with hours of healthy history written in (monitoring.py), as a
production one would have."""

from __future__ import annotations

import json
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
from cryptopipe.stack.manager import Stack, tail
from cryptopipe.stack.process import wait_until
from tests.conftest import RunningStack, port_base, stack_settings_for, started_stack
from tests.support.monitoring import Monitoring, fresh_monitoring

SEED_SPAN_S = 5 * 3600

# the chaos cluster's ports: base + CLUSTER_OFFSET + the usual suffixes (90..316; Toxiproxy on
# +74, the chaos modules' Prometheus/Alertmanager pairs on +81..+88), i.e. base+274..+516: clear
# of the session stack's (+85..+474) and of the other 3-broker cluster's (base+500: +590..+813);
# the served exchange on base+443 (between the brokers' +392..+413 and +492..+513)
CLUSTER_OFFSET = 200
EXCHANGE_OFFSET = 443


@dataclass(frozen=True)
class ChaosRig:
    settings: ChaosSettings
    env: dict[str, str]
    monitoring: Monitoring | None

    def chaos(self, tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "cryptopipe.cli", "--log-format", "text", "chaos", "run"]
        return subprocess.run(
            [*argv, "--no-start", "--journal-dir", str(tmp), *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )

    def variant(
        self, tmp: Path, name: str, doc: dict[str, Any], **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run the experiment ``doc`` (an edited copy of a shipped one) as ``name``; its
        journal goes to ``tmp/journals``."""
        folder = tmp / "experiments"
        folder.mkdir()
        (folder / f"{name}.json").write_text(json.dumps(doc))
        return self.chaos(
            tmp / "journals", name, CRYPTOPIPE_CHAOS_EXPERIMENTS_DIR=str(folder), **env
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
        proc = self.variant(tmp, f"{name}-worse", doc, CRYPTOPIPE_CHAOS_AUDIT_WAIT_S="20")
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
        return self.get(f"http://127.0.0.1:{self.settings.toxiproxy_port}/proxies/{name}")

    def get(self, url: str) -> dict[str, Any]:
        with urllib.request.urlopen(url, timeout=10) as resp:
            data: dict[str, Any] = json.load(resp)
        return data


@contextmanager
def chaos_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The 3-broker stack with Toxiproxy on base + CLUSTER_OFFSET."""
    base = port_base() + CLUSTER_OFFSET
    settings = stack_settings_for(
        tmp_path_factory.mktemp("chaos-cluster"),
        base,
        brokers=3,
        toxiproxy=True,
        toxiproxy_port=base + 74,
    )
    with started_stack(settings) as cluster:
        yield cluster


@contextmanager
def chaos_pipeline(cluster: RunningStack) -> Iterator[ChaosRig]:
    """The chaos pipeline on ``cluster``, fed by the served exchange, committing; without a
    Prometheus of its own yet (``monitored``)."""
    tag = uuid.uuid4().hex[:5].upper()
    symbols = f"CX{tag}AUSDT,CX{tag}BUSDT"
    fields = {
        "chaos_symbols": symbols,
        "chaos_audit_wait_s": 240.0,
        "chaos_source": "exchange",
        "exchange_port": port_base() + EXCHANGE_OFFSET,
    }
    settings = ChaosSettings(**{**cluster.settings.model_dump(), **fields})
    started = pipeline.start(
        settings,
        {"CRYPTOPIPE_AUDIT_SYMBOLS": symbols, "CRYPTOPIPE_QUERY_NAME": f"chaos-{tag.lower()}"},
    )
    assert {"producer", "processor", "audit"} <= set(started), "another pipeline is running"
    try:
        if not pipeline.wait_fresh(settings, 600):
            logs = "\n".join(
                f"--- {n}\n{tail(Stack(settings).process(n).log_file, 15)}" for n in started
            )
            raise AssertionError(f"the chaos pipeline does not commit\n{logs}")
        env = {
            **cluster.env(),
            "CRYPTOPIPE_STATE_DIR": str(settings.state_dir),
            "CRYPTOPIPE_BROKERS": "3",
            "CRYPTOPIPE_TOXIPROXY_PORT": str(settings.toxiproxy_port),
            "CRYPTOPIPE_CHAOS_SYMBOLS": symbols,
            "CRYPTOPIPE_CHAOS_SOURCE": settings.chaos_source,
            "CRYPTOPIPE_EXCHANGE_PORT": str(settings.exchange_port),
            "CRYPTOPIPE_CHAOS_AUDIT_WAIT_S": str(settings.chaos_audit_wait_s),
        }
        yield ChaosRig(settings, env, None)
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
            return len(up) == 3 and len(fresh) == len(settings.symbol_set())

        assert wait_until(scraping, 90), "the fresh Prometheus does not see the pipeline"
        env = {
            **rig.env,
            "CRYPTOPIPE_PROMETHEUS_PORT": str(port),
            "CRYPTOPIPE_ALERTMANAGER_PORT": str(port + 1),
        }
        yield ChaosRig(settings, env, mon)
