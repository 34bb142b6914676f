"""A Prometheus + Alertmanager of the stack's own config, started for one test module once the
pipeline is healthy, with hours of healthy SLI history written in beforehand.

A Prometheus that has only seen this test session holds little else than start-ups in its long
windows, so the multi-window burn-rate pages latch on a few bad minutes (docs/alerting.md);
production ones have hours of good slices. ``seed_history`` writes those hours as TSDB blocks
with promtool (`tsdb create-blocks-from openmetrics`) before the server starts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptopipe.stack import prometheus
from cryptopipe.stack.manager import tail
from cryptopipe.stack.process import ManagedProcess, stop_together, wait_until
from cryptopipe.stack.settings import StackSettings

SLICE_S = 5  # the SLI recording rules' evaluation interval


def seed_history(
    data_dir: Path, symbols: list[str], end: int, span_s: int, rate: float = 0.0
) -> None:
    """Healthy slices every 5 s over ``[end - span_s, end)``: the symbols traded, were fresh,
    and the producer received them; with ``rate`` > 0 also ``rate`` trades/s produced and each
    committed within 5 s (the latency SLI's counters, as a series ``job="seed"``)."""
    stamps = range(end - span_s, end, SLICE_S)
    series: dict[str, list[tuple[str, int]]] = {
        "cryptopipe:ingestion_slice:bad": [("", 0)],
        "cryptopipe:freshness_slice:eligible": [(f'{{symbol="{s}"}}', 1) for s in symbols],
        "cryptopipe:freshness_slice:bad": [(f'{{symbol="{s}"}}', 0) for s in symbols],
    }
    lines = []
    for name, children in series.items():
        lines.append(f"# TYPE {name} gauge")
        for labels, value in children:
            lines += [f"{name}{labels} {value} {t}" for t in stamps]
    counters = {
        "cryptopipe_producer_trades_produced_total": '{job="seed"}',
        "cryptopipe_processor_end_to_end_latency_seconds_bucket": '{job="seed",le="5.0"}',
    }
    for name, labels in counters.items() if rate > 0 else ():
        lines.append(f"# TYPE {name} gauge")  # rate() reads any series; gauge keeps the name
        lines += [f"{name}{labels} {int((t - stamps[0]) * rate)} {t}" for t in stamps]
    lines.append("# EOF")
    data_dir.mkdir(parents=True, exist_ok=True)
    source = data_dir.parent / "seed.om"
    source.write_text("\n".join(lines) + "\n")
    promtool = shutil.which("promtool") or "promtool"
    out = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr


@dataclass(frozen=True)
class Monitoring:
    settings: StackSettings

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = (
            prometheus.url(self.settings.prometheus_port)
            + "/api/v1/query?"
            + (urllib.parse.urlencode({"query": promql}))
        )
        with urllib.request.urlopen(url, timeout=10) as resp:
            result: list[dict[str, Any]] = json.load(resp)["data"]["result"]
        return result


@contextmanager
def fresh_monitoring(
    settings: StackSettings, seed: tuple[list[str], int, int, float] | None = None
) -> Iterator[Monitoring]:
    """Prometheus and Alertmanager on ``settings``' ports and state dir (the stack's own
    configs, rendered for those settings); ``seed``: (symbols, end, span_s, rate) of healthy
    history written first (``seed_history``)."""
    prom_config, am_config = prometheus.write_configs(settings)
    base = settings.state_dir
    if seed is not None:
        seed_history(base / "prometheus" / "data", *seed)
    am = ManagedProcess("alertmanager-fresh", base / "run", base / "logs")
    prom = ManagedProcess("prometheus-fresh", base / "run", base / "logs")
    am.start(prometheus.alertmanager_command(settings, am_config))
    prom.start(prometheus.prometheus_command(settings, prom_config))
    try:
        for proc, port in ((am, settings.alertmanager_port), (prom, settings.prometheus_port)):
            ready = wait_until(lambda port=port: prometheus.is_ready(port), 60)  # type: ignore[misc]
            assert ready, tail(proc.log_file, 20)
        yield Monitoring(settings)
    finally:
        stop_together([prom, am], 30)
