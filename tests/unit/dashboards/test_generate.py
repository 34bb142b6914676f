"""`cryptopipe dashboards generate`: the committed dashboards are what the code generates, the
--check mode catches a hand edit, the output is deterministic, and every metric a panel reads is
one the services export (or a recording rule the repo's rule files define)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from cryptopipe.audit.metrics import AuditMetrics
from cryptopipe.dashboards import generate
from cryptopipe.dashboards.common import GENERATED_NOTE
from cryptopipe.dashboards.queries import panel_queries, panels
from cryptopipe.processor.metrics import ProcessorMetrics
from cryptopipe.producer.metrics import ProducerMetrics
from tests.support.metric_names import exported
from tests.unit.dashboards.lint import selectors

REPO = Path(__file__).resolve().parents[3]
COMMITTED = REPO / "dashboards"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cryptopipe.cli", "dashboards", "generate", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_committed_dashboards_are_up_to_date() -> None:
    result = cli("--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_fails_with_a_diff_when_a_dashboard_was_edited(tmp_path: Path) -> None:
    out = tmp_path / "dashboards"
    shutil.copytree(COMMITTED, out)
    board = json.loads((out / "market.json").read_text())
    board["title"] = "edited by hand"
    (out / "market.json").write_text(json.dumps(board, indent=2, sort_keys=True) + "\n")
    result = cli("--check", "--out-dir", str(out))
    assert result.returncode == 1
    assert '-  "title": "edited by hand"' in result.stdout
    assert "differ from the committed files" in result.stderr
    # a missing file is stale too; generating brings both back
    (out / "slo-overview.json").unlink()
    assert cli("--check", "--out-dir", str(out)).returncode == 1
    assert cli("--out-dir", str(out)).returncode == 0
    assert cli("--check", "--out-dir", str(out)).returncode == 0


def test_output_is_deterministic_with_stable_uids() -> None:
    first, second = generate.render_all(), generate.render_all()
    assert first == second
    uids = {name: json.loads(text)["uid"] for name, text in first.items()}
    assert uids == {
        "slo-overview.json": "cryptopipe-slo",
        "pipeline-internals.json": "cryptopipe-pipeline",
        "market.json": "cryptopipe-market",
    }
    for text in first.values():
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_each_dashboard_says_it_is_generated() -> None:
    for name, board in generate.load_all(COMMITTED).items():
        assert GENERATED_NOTE in board["description"], name
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name


def test_the_dashboards_cover_the_issue() -> None:
    boards = generate.load_all(COMMITTED)
    titles = {b["title"]: [p["title"] for p in panels(b)] for b in boards.values()}
    pipeline = titles["cryptopipe / Pipeline internals"]
    for wanted in (
        "Frames received", "Producer DLQ by reason", "WebSocket reconnects by reason",
        "Trade-id gaps detected and backfilled", "Kafka delivery latency",
        "Kafka client queue depth", "Backpressure", "Offsets behind latest (Spark query)",
        "End offsets age", "Topic throughput", "Batch duration", "Input vs processed rows",
        "Late and rejected rows", "MySQL commit latency", "MySQL sink stalls",
        "End-to-end latency",
    ):  # fmt: skip
        assert wanted in pipeline
    heatmaps = {p["title"]: p for p in panels(boards["pipeline-internals.json"])}
    e2e = heatmaps["End-to-end latency"]
    assert e2e["type"] == "heatmap" and e2e["targets"][0]["exemplar"] is True
    slo_titles = titles["cryptopipe / SLOs"]
    for slo in ("freshness", "latency", "ingestion", "input-quality"):
        for part in ("SLI now (5m)", "objective", "error budget remaining", "burn rate"):
            assert any(t.startswith(f"{slo}: {part}") for t in slo_titles), (slo, part)
    market = {p["type"] for p in panels(boards["market.json"])}
    assert "candlestick" in market
    names = {v["name"] for v in boards["market.json"]["templating"]["list"]}
    assert {"symbol", "interval", "mysql", "datasource", "job", "instance"} <= names


def recorded_names() -> set[str]:
    names = set()
    for path in (REPO / "observability" / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {r["record"] for r in group["rules"] if "record" in r}
    return names


def test_every_metric_a_panel_reads_is_exported_or_recorded() -> None:
    available = (
        exported(ProducerMetrics().registry)
        | exported(ProcessorMetrics().registry)
        | exported(AuditMetrics().registry)
        | recorded_names()
        | {"ALERTS", "up"}
    )
    # the processor's lag collectors only report once the end offsets are read
    available |= {
        "cryptopipe_processor_kafka_end_offsets_age_seconds",
        "cryptopipe_processor_kafka_offsets_behind_latest",
    }
    used = set()
    for board in generate.load_all(COMMITTED).values():
        for q in panel_queries(board):
            if q.kind == "promql":
                used |= {s.name for s in selectors(q.text) if s.name != "vector"}
    assert used
    assert used - available == set()
    assert all(re.fullmatch(r"[a-zA-Z_:][\w:]*", n) for n in used)
