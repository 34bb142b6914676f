"""A pipeline under load for live chaos experiments, run through `cryptopipe chaos run
--no-start`: the chaos pipeline (cryptopipe.chaos.pipeline) on the session stack plus
Toxiproxy, and a Prometheus + Alertmanager of its own started once the pipeline is healthy,
with hours of healthy history written in (monitoring.py), as a production one would have."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cryptopipe.chaos import pipeline
from cryptopipe.chaos.settings import ChaosSettings
from cryptopipe.stack.manager import Stack, tail
from cryptopipe.stack.process import wait_until
from tests.conftest import RunningStack, port_base
from tests.support.monitoring import Monitoring, fresh_monitoring

SEED_SPAN_S = 5 * 3600


@dataclass(frozen=True)
class ChaosRig:
    settings: ChaosSettings
    env: dict[str, str]
    monitoring: Monitoring

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

    def get(self, url: str) -> dict[str, Any]:
        with urllib.request.urlopen(url, timeout=10) as resp:
            data: dict[str, Any] = json.load(resp)
        return data


@contextmanager
def chaos_rig(
    stack: RunningStack,
    tmp_path_factory: pytest.TempPathFactory,
    symbols: str,
    query_name: str,
    **fields: Any,
) -> Iterator[ChaosRig]:
    """The chaos pipeline for ``symbols`` with ChaosSettings ``fields`` over the stack's."""
    base = port_base()
    fields = {
        "toxiproxy": True,
        "toxiproxy_port": base + 474,
        "chaos_symbols": symbols,
        "chaos_audit_wait_s": 240.0,
        **fields,
    }
    settings = ChaosSettings(**{**stack.settings.model_dump(), **fields})
    Stack(settings).up()  # adds Toxiproxy to the running session stack
    started = pipeline.start(
        settings, {"CRYPTOPIPE_AUDIT_SYMBOLS": symbols, "CRYPTOPIPE_QUERY_NAME": query_name}
    )
    assert {"producer", "processor", "audit"} <= set(started), "another pipeline is running"
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
                return len(up) == 3 and len(fresh) == len(settings.symbol_set())

            assert wait_until(scraping, 90), "the fresh Prometheus does not see the pipeline"
            env = {
                **stack.env(),
                "CRYPTOPIPE_STATE_DIR": str(settings.state_dir),
                "CRYPTOPIPE_TOXIPROXY_PORT": str(settings.toxiproxy_port),
                "CRYPTOPIPE_CHAOS_SYMBOLS": symbols,
                "CRYPTOPIPE_CHAOS_SOURCE": settings.chaos_source,
                "CRYPTOPIPE_EXCHANGE_PORT": str(settings.exchange_port),
                "CRYPTOPIPE_CHAOS_AUDIT_WAIT_S": str(settings.chaos_audit_wait_s),
                "CRYPTOPIPE_PROMETHEUS_PORT": str(mon_settings.prometheus_port),
                "CRYPTOPIPE_ALERTMANAGER_PORT": str(mon_settings.alertmanager_port),
            }
            yield ChaosRig(settings, env, mon)
    finally:
        pipeline.stop(settings)
