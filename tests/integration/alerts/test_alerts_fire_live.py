"""Alerts on the live test stack with the real pipeline: quiet while healthy, and a completeness
page and a target-down page that fire on Prometheus, go through the stack's Alertmanager to a
webhook, show in `cryptopipe alerts`, and resolve. Exemplars of the latency histogram reach
Prometheus."""

from __future__ import annotations

import json
import signal
import time
import urllib.parse
from datetime import datetime
from typing import Any

import pytest

from cryptopipe.alerts.client import iso_utc
from cryptopipe.stack import prometheus
from tests.integration.alerts.conftest import (
    STACK_PATH,
    Pipeline,
    add_to_trade_count,
    cli,
    concerning,
    get_json,
    prom_alerts,
    settled_window,
)
from tests.integration.alerts.webhook import WebhookReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.spark, pytest.mark.kafka, pytest.mark.mysql]


def test_a_healthy_pipeline_raises_none_of_the_pipeline_alerts(
    pipeline: Pipeline, receiver: WebhookReceiver
) -> None:
    started = time.time()
    seen: list[dict[str, Any]] = []
    # longer than the `for` of every pipeline alert that could fire on a fresh pipeline (1 min)
    while time.time() - started < 90:
        seen += [a for a in prom_alerts(pipeline.stack) if concerning(pipeline, a)]
        time.sleep(5)
    assert seen == [], "pending or firing on a healthy pipeline"
    fired = [
        a
        for n in receiver.notifications(STACK_PATH)
        if n.received_at >= started
        for a in n.alerts()
        if a["status"] == "firing" and concerning(pipeline, a)
    ]
    assert fired == []


def test_prometheus_stores_the_latency_histograms_trace_id_exemplars(pipeline: Pipeline) -> None:
    base = prometheus.url(pipeline.stack.settings.prometheus_port)
    deadline = time.monotonic() + 120
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not found:
        now = time.time()
        query = urllib.parse.urlencode(
            {
                "query": "cryptopipe_processor_end_to_end_latency_seconds_bucket",
                "start": f"{now - 900:.3f}",
                "end": f"{now:.3f}",
            }
        )
        data = get_json(f"{base}/api/v1/query_exemplars?{query}")["data"]
        found = [e for series in data for e in series["exemplars"]]
        time.sleep(3)
    assert found, "no exemplar on the processor's latency histogram"
    trace_ids = {e["labels"]["trace_id"] for e in found}
    assert all(len(t) == 32 and int(t, 16) for t in trace_ids), trace_ids


def test_a_double_counted_trade_pages_through_alertmanager_and_resolves(
    pipeline: Pipeline, receiver: WebhookReceiver
) -> None:
    # a real defect in MySQL: one trade counted twice in a candle the audit covers
    symbol, window = settled_window(pipeline, older_than_s=120, timeout_s=240)
    add_to_trade_count(pipeline, symbol, window, +1)
    restored = False
    try:

        def ours(alert: dict[str, Any]) -> bool:
            labels = alert["labels"]
            return bool(
                labels.get("alertname") == "CryptopipeTradesDoubleCounted"
                and labels.get("symbol") == symbol
                and labels.get("interval") == "1m"
            )

        # audit every 5 s + `for: 1m` + evaluation 5 s + group_wait 10 s
        got = receiver.wait_for_alert(
            STACK_PATH, lambda a: ours(a) and a["status"] == "firing", 240
        )
        assert got, "CryptopipeTradesDoubleCounted did not reach the webhook"
        note, alert = got
        assert note.receiver == "page"
        assert alert["labels"]["severity"] == "page"
        assert alert["labels"]["slo"] == "completeness"
        assert (
            alert["annotations"]["runbook_url"] == "docs/runbooks/CryptopipeTradesDoubleCounted.md"
        )
        assert alert["annotations"]["summary"].startswith(f"1 {symbol} trades counted twice")

        listed = json.loads(cli(pipeline.cli_env(), "alerts", "--json").stdout)
        assert listed["source"] == "alertmanager"
        mine = [a for a in listed["alerts"] if ours({"labels": a["labels"]})]
        assert mine and mine[0]["severity"] == "page" and mine[0]["state"] == "active"
        assert mine[0]["slo"] == "completeness" and mine[0]["service"] == "audit"

        add_to_trade_count(pipeline, symbol, window, -1)
        restored = True
        resolved = receiver.wait_for_alert(
            STACK_PATH, lambda a: ours(a) and a["status"] == "resolved", 240
        )
        assert resolved, "the page did not resolve once MySQL was right again"
    finally:
        if not restored:
            add_to_trade_count(pipeline, symbol, window, -1)


def test_a_sigstopped_processor_pages_and_resolves(
    pipeline: Pipeline, receiver: WebhookReceiver
) -> None:
    """The issue's proof: SIGSTOP the processor and a page reaches the webhook; SIGCONT and it
    resolves. Which page depends on a race the config decides on purpose: the freshness SLO's
    page (fires once the 5 m and 1 h windows both burn 14.4x: about 30-60 s of bad slices on a
    pipeline running for ~10 min) or CryptopipeTargetDown{service="processor"} (a stopped
    process does not answer scrapes: `up == 0` for 1 min). Once the target-down fires it
    inhibits the freshness page, so if that one lost the race it must be listed as inhibited,
    not vanish. On a young Prometheus the freshness page of the pipeline's start-up (no candles
    for the first minute) is still firing (its 30 m window remembers the start), so the page that
    newly reaches the webhook is the target-down one. Bound (docs/alerting.md): 2.5 min."""
    stack = pipeline.stack
    mine = set(pipeline.symbols)

    def page_for_us(alert: dict[str, Any]) -> bool:
        labels = alert["labels"]
        if labels.get("severity") != "page":
            return False
        if labels.get("alertname") == "CryptopipeFreshnessBudgetBurn":
            return labels.get("symbol") in mine
        return bool(
            labels.get("alertname") == "CryptopipeTargetDown"
            and labels.get("service") == "processor"
        )

    processor = pipeline.process("processor")
    stopped_at = time.time()
    processor.kill(signal.SIGSTOP)
    try:
        got = receiver.wait_for_alert(
            STACK_PATH,
            lambda a: (
                page_for_us(a) and a["status"] == "firing" and _after(a["startsAt"], stopped_at)
            ),
            150,
        )
        assert got, "no page reached the webhook within 2.5 min of SIGSTOP"
        note, page = got
        delay_s = note.received_at - stopped_at
        print(f"\n{page['labels']['alertname']} reached the webhook {delay_s:.0f}s after SIGSTOP")
        assert note.receiver == "page"
        if page["labels"]["alertname"] == "CryptopipeTargetDown":
            # the freshness SLO burns too, silenced behind the target-down page
            am = prometheus.url(stack.settings.alertmanager_port)
            inhibited = receiver_wait(
                lambda: [
                    a
                    for a in get_json(f"{am}/api/v2/alerts")
                    if a["labels"].get("alertname") == "CryptopipeFreshnessBudgetBurn"
                    and a["labels"].get("symbol") in mine
                    and a["status"]["inhibitedBy"]
                ],
                120,
            )
            assert inhibited, "the freshness SLO did not burn, or was not inhibited"
    finally:
        processor.kill(signal.SIGCONT)
    resumed_at = time.time()
    key = {k: page["labels"].get(k) for k in ("alertname", "symbol", "service")}
    resolved = receiver.wait_for_alert(
        STACK_PATH,
        lambda a: (
            a["status"] == "resolved"
            and {k: a["labels"].get(k) for k in key} == key
            and _after(a["startsAt"], stopped_at)
        ),
        600,
    )
    assert resolved, f"{key} did not resolve after SIGCONT"
    print(f"resolved {resolved[0].received_at - resumed_at:.0f}s after SIGCONT")


def receiver_wait(probe: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(3)
    return None


def test_a_stopped_producer_pages_target_down_through_alertmanager_and_resolves(
    pipeline: Pipeline, receiver: WebhookReceiver
) -> None:
    """Last: a restarted synthetic producer starts a new id sequence (the audit then reports the
    jump as missing ids, rightly)."""
    port = pipeline.stack.settings.producer_metrics_port

    def ours(alert: dict[str, Any]) -> bool:
        labels = alert["labels"]
        return bool(
            labels.get("alertname") == "CryptopipeTargetDown"
            and labels.get("instance") == f"127.0.0.1:{port}"
        )

    stopped_at = time.time()
    assert pipeline.process("producer").stop(60)
    got = receiver.wait_for_alert(
        STACK_PATH,
        lambda a: ours(a) and a["status"] == "firing" and _after(a["startsAt"], stopped_at),
        240,
    )
    assert got, "CryptopipeTargetDown did not reach the webhook"
    note, alert = got
    assert note.receiver == "page"
    assert alert["labels"]["service"] == "producer"
    assert alert["labels"]["severity"] == "page"

    table = cli(pipeline.cli_env(), "alerts").stdout
    line = next(
        li for li in table.splitlines() if "CryptopipeTargetDown" in li and "producer" in li
    )
    assert line.split()[:4] == ["page", "CryptopipeTargetDown", "producer", "active"]
    assert "runbook: docs/runbooks/CryptopipeTargetDown.md" in table

    pipeline.start("producer")
    resolved = receiver.wait_for_alert(
        STACK_PATH,
        lambda a: ours(a) and a["status"] == "resolved" and _after(a["startsAt"], stopped_at),
        240,
    )
    assert resolved, "the target-down page did not resolve after the producer came back"


def _after(rfc3339: str, epoch_s: float) -> bool:

    return (
        datetime.fromisoformat(iso_utc(rfc3339).replace("Z", "+00:00")).timestamp() >= epoch_s - 1
    )
