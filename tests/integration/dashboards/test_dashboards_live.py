"""Every query of every generated dashboard returns data on the running pipeline.

One pipeline run (the alerting tests' fixture: synthetic producer, Spark processor and audit on
the test stack) is shared by every panel. The test causes the events some series only exist
after: a malformed message and a late trade on the trades topic (rejected and late rows). The
panels that stay empty on a healthy pipeline are listed in ``EMPTY_WHEN_HEALTHY`` with the reason;
each of their targets must still be valid PromQL that Prometheus evaluates without error.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
from pathlib import Path
from typing import Any

import orjson
import pytest
from PIL import Image, ImageStat

from cryptopipe.dashboards.generate import load_all
from cryptopipe.dashboards.queries import (
    PanelQuery,
    expand_mysql_macros,
    panel_queries,
    substitute,
    variable_queries,
)
from cryptopipe.report.plots import HEIGHT_PX, WIDTH_PX
from cryptopipe.stack import mariadb, prometheus
from tests.integration.alerts.conftest import Pipeline, get_json, pipeline, receiver
from tests.integration.audit.bad_input import fields
from tests.integration.processor.conftest import produce
from tests.support import chromium

pytestmark = [pytest.mark.e2e, pytest.mark.spark, pytest.mark.kafka, pytest.mark.mysql]
__all__ = ["pipeline", "receiver"]  # the alerting tests' fixtures, shared
# data flowing is enough here: earlier tests' trades on the topic may keep the audit (it scans the
# whole topic, this pipeline's processor starts at its end) and its alerts busy
PIPELINE_QUIET = False

# Panels allowed to return nothing on a healthy pipeline, and why. Everything else must show data.
EMPTY_WHEN_HEALTHY = {
    "Producer DLQ by reason": "the synthetic source sends only valid frames: no producer DLQ "
    "record, so no dlq_records_total{reason} series (the producer tests feed it malformed frames)",
    "WebSocket reconnects by reason": "the synthetic source has no WebSocket to lose: "
    "reconnects_total{reason} has no series until a reconnect",
    "Trade-id gaps detected and backfilled": "synthetic trade ids are contiguous: no gap, so no "
    "gaps/backfilled/unrecoverable series per symbol",
    "MySQL sink stalls": "a healthy MariaDB does not stall: sink_stalls/retries/failures have no "
    "{operation} series until one (tests/integration/processor/test_sink_stalls.py causes them)",
}
RANGE_S = 900  # the dashboards' time range for the SQL panels: the last 15 minutes


def prom_base(p: Pipeline) -> str:
    return prometheus.url(p.stack.settings.prometheus_port)


def instant(p: Pipeline, promql: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"query": promql})
    try:
        data = get_json(f"{prom_base(p)}/api/v1/query?{query}")
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"Prometheus refused {promql}: {exc.read().decode()}") from exc
    assert data["status"] == "success", (promql, data)
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


def label_values(p: Pipeline, label: str, match: str) -> list[str]:
    query = urllib.parse.urlencode({"match[]": match})
    values: list[str] = get_json(f"{prom_base(p)}/api/v1/label/{label}/values?{query}")["data"]
    return values


def sql_rows(p: Pipeline, sql: str) -> list[tuple[Any, ...]]:
    # the SELECT-only user, as the Grafana datasource and `cryptopipe report` log in
    conn = mariadb.reader_connection(p.stack.settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SET time_zone = '+00:00'")  # the datasource's session time zone
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def cause_rejected_and_late_rows(p: Pipeline) -> None:
    """A message the processor rejects (not JSON) and a valid trade an hour late."""
    late = {**fields(p.symbols[0], 9_000_000_000, int((time.time() - 3600) * 1e6))}
    produce(
        p.stack,
        p.stack.settings.topic_trades,
        [(p.symbols[0].encode(), b"{not json"), (p.symbols[0].encode(), orjson.dumps(late))],
    )


@pytest.fixture(scope="module")
def live(pipeline: Pipeline) -> Pipeline:
    cause_rejected_and_late_rows(pipeline)
    deadline = time.monotonic() + 240
    wanted = (
        "sum(cryptopipe_processor_rejected_rows_total) > 0",
        "sum(cryptopipe_processor_late_rows_total) > 0",
    )
    while time.monotonic() < deadline and not all(instant(pipeline, q) for q in wanted):
        time.sleep(3)
    assert all(instant(pipeline, q) for q in wanted), "no rejected or late rows counted"
    return pipeline


def variable_values(p: Pipeline) -> dict[str, str | list[str]]:
    """The variables as a user would pick them: every live job and instance, our symbols."""
    jobs = label_values(p, "job", 'up{job=~"cryptopipe-.*"}')
    instances = label_values(p, "instance", 'up{job=~"cryptopipe-.*"}')
    assert {"cryptopipe-producer", "cryptopipe-processor"} <= set(jobs)
    return {
        "job": jobs,
        "instance": instances,
        "symbol": p.symbols,
        "interval": "1m",
        "__rate_interval": "1m",
        "__interval": "1m",
        "datasource": "prometheus",
        "mysql": "mysql",
    }


def evaluate(p: Pipeline, q: PanelQuery, values: dict[str, str | list[str]]) -> int:
    text = substitute(q.text, values, q.kind)
    assert "$" not in text.replace("$__", ""), f"{q.panel}: variable left in {text}"
    if q.kind == "promql":
        return len(instant(p, text))
    now = int(time.time())
    return len(sql_rows(p, expand_mysql_macros(text, now - RANGE_S, now)))


def test_every_panel_query_returns_data_on_the_live_pipeline(live: Pipeline) -> None:
    boards = load_all()
    values = variable_values(live)
    queries = [q for b in boards.values() for q in panel_queries(b)]
    assert {q.kind for q in queries} == {"promql", "sql"}
    titles = {q.panel for q in queries}
    assert set(EMPTY_WHEN_HEALTHY) <= titles, "the allow-list names a panel that is gone"

    # a series can need a scrape or a rule evaluation more: poll until all answer or time is up
    empty: dict[str, list[str]] = {}
    deadline = time.monotonic() + 180
    while True:
        empty = {}
        for q in queries:
            if q.panel in EMPTY_WHEN_HEALTHY:
                evaluate(live, q, values)  # still evaluated without error
            elif evaluate(live, q, values) == 0:
                empty.setdefault(f"{q.dashboard} / {q.panel}", []).append(q.ref_id)
        if not empty or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert empty == {}, "panels whose queries returned nothing:\n" + json.dumps(empty, indent=1)


def test_every_variable_query_returns_values(live: Pipeline) -> None:
    for board in load_all().values():
        for q in variable_queries(board):
            if q.kind == "sql":
                rows = sql_rows(live, q.text)
                assert rows, q.panel
                if q.panel == "variable symbol":
                    assert set(live.symbols) <= {r[0] for r in rows}
            else:
                inner, label = q.text.removeprefix("label_values(").rsplit(",", 1)
                match = substitute(inner, variable_values(live), "promql")
                assert label_values(live, label.strip(" )"), match), q.panel


def test_the_end_to_end_heatmap_has_trace_exemplars(live: Pipeline) -> None:
    board = load_all()["pipeline-internals.json"]
    (q,) = [q for q in panel_queries(board) if q.panel == "End-to-end latency"]
    assert q.exemplar
    # Grafana asks for the exemplars of the target's own expression
    expr = substitute(q.text, variable_values(live), "promql")
    deadline = time.monotonic() + 120
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not found:
        now = time.time()
        query = urllib.parse.urlencode(
            {"query": expr, "start": f"{now - 900:.3f}", "end": f"{now:.3f}"}
        )
        data = get_json(f"{prom_base(live)}/api/v1/query_exemplars?{query}")["data"]
        found = [e for series in data for e in series["exemplars"]]
        time.sleep(3)
    assert found and all("trace_id" in e["labels"] for e in found)


def test_report_draws_every_panel_and_opens_offline_in_chromium(
    live: Pipeline, tmp_path: Path
) -> None:
    """`cryptopipe report` on the live pipeline, opened in headless Chromium with the network off:
    no console error, every panel that must have data has a decoded image, the PNGs are images."""
    out = tmp_path / "report"
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "cryptopipe.cli", "report", "--since", "15m", "--out", str(out)],
        env=live.stack.env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(f"report rendered in {time.monotonic() - started:.1f} s")
    assert proc.returncode == 0, proc.stderr
    assert "drawing cryptopipe / Market / Volume per symbol" in proc.stderr  # progress
    page = Path(proc.stdout.strip().splitlines()[-1])
    assert page == out / "report.html"

    with chromium.open_offline(page, tmp_path / "chromium") as browser:
        figures = browser.evaluate(
            "[...document.querySelectorAll('figure.panel')].map(f => {"
            " const img = f.querySelector('img');"
            " return {title: f.dataset.panel, data: f.classList.contains('has-data'),"
            " width: img ? (img.complete ? img.naturalWidth : -1) : 0,"
            " why: (f.querySelector('.why') || {}).textContent || ''}; })"
        )
        slo_rows = browser.evaluate("document.querySelectorAll('#slo-table tr').length - 1")
        shot = browser.screenshot(tmp_path / "report-screenshot.png")
        print(f"report screenshot: {shot}")
        errors, requests = browser.errors, browser.requests
    assert errors == [], errors
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    missing = [f for f in figures if not f["data"] and f["title"] not in EMPTY_WHEN_HEALTHY]
    assert missing == [], "panels without data in the report:\n" + json.dumps(missing, indent=1)
    assert all(f["width"] == WIDTH_PX for f in figures if f["data"]), figures
    assert all(f["why"].startswith("No data") for f in figures if not f["data"])
    for symbol in live.symbols:
        assert any(f["title"] == f"Candles {symbol} (1m)" and f["data"] for f in figures)
    assert slo_rows >= 4  # freshness per symbol, latency, ingestion, input-quality

    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == sum(f["data"] for f in figures)
    for png in pngs:
        image = Image.open(png)
        assert image.size == (WIDTH_PX, HEIGHT_PX), png.name
        low, high = ImageStat.Stat(image.convert("L")).extrema[0]
        assert low < 100 and high > 200, f"{png.name} is blank"
    shot_image = Image.open(shot)
    assert shot_image.size[1] > 2000 and ImageStat.Stat(shot_image.convert("L")).stddev[0] > 10
