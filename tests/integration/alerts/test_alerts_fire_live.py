"""Alerts on the live test stack with the real pipeline (producer `--source binance` on the local
Binance emulator, processor, `audit --watch`), watched by a Prometheus and an Alertmanager of
this module's own (``monitoring``: the repo's rules and alertmanager.yml) that post to a webhook
receiver. Quiet while healthy; then faults, each proven to raise its alert at the webhook and to
resolve once repaired:

- Spark's JVM SIGSTOPped (the processor's metrics server stays up): the freshness SLO page;
- the exchange goes silent for one symbol (connection open, pings answered): the ingestion SLO
  page;
- a burst of malformed frames: the CryptopipeDLQNonEmpty ticket, and no page;
- one trade counted twice in MySQL: the completeness page;
- the whole processor SIGSTOPped (hung, /metrics silent): the target-down page, with the
  freshness page inhibited behind it.

Beside them, with no pipeline involved, the repo's Alertmanager config on a private Alertmanager
(alerts posted by hand): routing by severity, inhibition, delivery to the webhook.

The faults touch different parts (Spark, one symbol's market, the DLQ, one MySQL candle) and run
at once with the routing check (``scenarios``); the hung processor waits until the Spark stop and
the double count are over (both need the processor). Exemplars of the latency histogram reach
Prometheus. Measured delays and why this module has a Prometheus of its own, seeded with
history: docs/alerting.md."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cryptopipe.alerts.client import iso_utc
from cryptopipe.stack import prometheus
from tests.conftest import RunningStack
from tests.integration.alerts.conftest import (
    LIVE_PATH,
    PRIVATE_PATH,
    LiveMonitoring,
    Pipeline,
    PrivateAlertmanager,
    add_to_trade_count,
    cli,
    concerning,
    get_json,
    settled_window,
    spark_jvm_pid,
)
from tests.integration.alerts.webhook import WebhookReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.spark, pytest.mark.kafka, pytest.mark.mysql]

PIPELINE_SOURCE = "binance"
Alert = dict[str, Any]
Timings = dict[str, float]


def named(alertname: str, **labels: str) -> Callable[[Alert], bool]:
    def match(alert: Alert) -> bool:
        got = alert["labels"]
        return bool(
            got.get("alertname") == alertname and all(got.get(k) == v for k, v in labels.items())
        )

    return match


def _after(rfc3339: str, epoch_s: float) -> bool:
    return (
        datetime.fromisoformat(iso_utc(rfc3339).replace("Z", "+00:00")).timestamp() >= epoch_s - 1
    )


def eventually(probe: Callable[[], Any], timeout_s: float, every_s: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(every_s)
    return None


def delivered(
    receiver: WebhookReceiver, match: Callable[[Alert], bool], status: str, since: float, t: float
) -> tuple[Any, Alert]:
    """The first notification at LIVE_PATH of an alert that ``match``es with ``status``, of an
    alert that started after ``since``; fails after ``t`` seconds."""
    got = receiver.wait_for_alert(
        LIVE_PATH,
        lambda a: match(a) and a["status"] == status and _after(a["startsAt"], since),
        t,
    )
    assert got, f"no {status} notification of the alert within {t:.0f}s"
    return got


# --- the scenarios (each runs in a thread of its own, see ``scenarios``) ---------------------


def freshness_page_when_spark_stops(
    p: Pipeline, mon: LiveMonitoring, receiver: WebhookReceiver
) -> Timings:
    """SIGSTOP the Spark JVM only: the Python process keeps serving /metrics, so freshness (now -
    newest committed trade, computed at scrape) grows past 15 s and no target goes down. The
    page fires once the 5 m and 1 h windows burn 14.4x; SIGCONT as soon as Prometheus fires it
    (every extra bad slice keeps the page up longer), then the webhook must get it and, once
    the 5 m window has forgotten the stop, its resolution."""
    symbol = p.symbols[1]
    page = named("CryptopipeFreshnessBudgetBurn", severity="page", symbol=symbol)
    jvm = spark_jvm_pid(p.process("processor"))
    stopped_at = time.time()
    os.kill(jvm, signal.SIGSTOP)
    try:
        assert eventually(lambda: mon.firing(page), 300), "the freshness page did not fire"
        fired_at = time.time()
        # the metrics server answered every scrape of the stop: not a target-down
        up = mon.query('min_over_time(up{job="cryptopipe-processor"}[2m])')
        assert [r["value"][1] for r in up] == ["1"], up
    finally:
        os.kill(jvm, signal.SIGCONT)
    resumed_at = time.time()
    note, alert = delivered(receiver, page, "firing", stopped_at, 120)
    assert note.receiver == "page"
    assert alert["labels"]["slo"] == "freshness"
    assert alert["annotations"]["runbook_url"] == "docs/runbooks/CryptopipeFreshnessBudgetBurn.md"
    down = named("CryptopipeTargetDown", service="processor")
    assert not [a for n in receiver.notifications(LIVE_PATH) for a in n.alerts() if down(a)]
    fresh = f'cryptopipe_processor_freshness_seconds{{symbol="{symbol}"}} < 15'
    assert eventually(lambda: mon.query(fresh), 300), "the processor did not catch up"
    caught_up_at = time.time()
    gone, _ = delivered(receiver, page, "resolved", stopped_at, 600)
    return {
        "SIGSTOP -> firing in Prometheus": fired_at - stopped_at,
        "SIGSTOP -> page at the webhook": note.received_at - stopped_at,
        "SIGCONT -> freshness < 15 s again": caught_up_at - resumed_at,
        "SIGCONT -> resolved at the webhook": gone.received_at - resumed_at,
    }


def ingestion_page_when_the_exchange_goes_silent(
    p: Pipeline, mon: LiveMonitoring, receiver: WebhookReceiver
) -> Timings:
    """One symbol's market stops trading; the connection stays open and pings go on, so the
    producer stays connected: only the ingestion SLO (every configured symbol received trades
    in the last minute) sees it."""
    market = p.market
    assert market is not None
    symbol = p.symbols[0]
    page = named("CryptopipeIngestionBudgetBurn", severity="page")
    silenced_at = time.time()
    market.silence(symbol)
    try:
        assert eventually(lambda: mon.firing(page), 300), "the ingestion page did not fire"
        fired_at = time.time()
        assert market.emulator.open_connections() >= 1, "the exchange closed the connection"
        assert not mon.firing(named("CryptopipeProducerDisconnected"))
    finally:
        market.resume(symbol)
    resumed_at = time.time()
    note, alert = delivered(receiver, page, "firing", silenced_at, 120)
    assert note.receiver == "page"
    assert alert["labels"]["slo"] == "ingestion"
    assert alert["annotations"]["runbook_url"] == "docs/runbooks/CryptopipeIngestionBudgetBurn.md"
    gone, _ = delivered(receiver, page, "resolved", silenced_at, 600)
    return {
        "silence -> firing in Prometheus": fired_at - silenced_at,
        "silence -> page at the webhook": note.received_at - silenced_at,
        "trades again -> resolved at the webhook": gone.received_at - resumed_at,
    }


MALFORMED = ["{oops", "[1, 2]", '{"e": "trade"', "not json at all"]


def dlq_ticket_on_a_burst_of_malformed_frames(
    p: Pipeline, mon: LiveMonitoring, receiver: WebhookReceiver
) -> Timings:
    """A burst of frames the producer refuses: the rules' alert for a short burst is the
    CryptopipeDLQNonEmpty ticket (any refusal in 15 min); the input-quality SLO needs a far
    larger or longer bleed (its page: >1.44 % of the frames over 1 h; its ticket: >0.3 % over
    1 d), shown with promtool in tests/integration/slo. The ticket resolves 15 min after the last
    refusal (tests/unit/alerts/pipeline-health.test.yml), longer than this test waits."""
    market = p.market
    assert market is not None
    sent_at = time.time()
    for frame in MALFORMED:
        market.emulator.send_raw(frame)
    ticket = named("CryptopipeDLQNonEmpty", source="binance", service="producer")
    note, alert = delivered(receiver, ticket, "firing", sent_at, 240)
    assert note.receiver == "ticket"
    assert alert["labels"]["severity"] == "ticket"
    assert alert["labels"]["reason"] in {"not_json", "not_an_object"}
    assert alert["annotations"]["runbook_url"] == "docs/runbooks/CryptopipeDLQNonEmpty.md"
    input_page = named("CryptopipeInputQualityBudgetBurn", severity="page")
    assert not mon.firing(input_page)
    assert not [a for n in receiver.notifications(LIVE_PATH) for a in n.alerts() if input_page(a)]
    return {"burst -> ticket at the webhook": note.received_at - sent_at}


def completeness_page_on_a_double_counted_trade(
    p: Pipeline, mon: LiveMonitoring, receiver: WebhookReceiver
) -> Timings:
    """A real defect in MySQL: one trade counted twice in a candle the audit covers. The audit
    judges each candle window, so the windows the stopped Spark has not committed yet (missing
    trades, not paged while the processor is behind) do not hide it."""
    symbol, window = settled_window(p, older_than_s=120, timeout_s=240)
    page = named("CryptopipeTradesDoubleCounted", symbol=symbol, interval="1m")
    changed_at = time.time()
    add_to_trade_count(p, symbol, window, +1)
    restored = False
    try:
        # audit every 5 s + `for: 1m` + evaluation 5 s + group_wait 10 s
        note, alert = delivered(receiver, page, "firing", changed_at - 30, 240)
        assert note.receiver == "page"
        assert alert["labels"]["severity"] == "page"
        assert alert["labels"]["slo"] == "completeness"
        assert (
            alert["annotations"]["runbook_url"] == "docs/runbooks/CryptopipeTradesDoubleCounted.md"
        )
        assert alert["annotations"]["summary"].startswith(f"1 {symbol} trades counted twice")

        listed = json.loads(cli(mon.cli_env(p.stack), "alerts", "--json").stdout)
        assert listed["source"] == "alertmanager"
        mine = [a for a in listed["alerts"] if page({"labels": a["labels"]})]
        assert mine and mine[0]["severity"] == "page" and mine[0]["state"] == "active"
        assert mine[0]["slo"] == "completeness" and mine[0]["service"] == "audit"

        add_to_trade_count(p, symbol, window, -1)
        restored = True
        restored_at = time.time()
        gone, _ = delivered(receiver, page, "resolved", changed_at - 30, 240)
    finally:
        if not restored:
            add_to_trade_count(p, symbol, window, -1)
    return {
        "UPDATE -> page at the webhook": note.received_at - changed_at,
        "put right -> resolved at the webhook": gone.received_at - restored_at,
    }


def target_down_page_when_the_processor_hangs(
    p: Pipeline, mon: LiveMonitoring, receiver: WebhookReceiver, after: list[Future[Timings]]
) -> Timings:
    """After the freshness and double-count scenarios (both need the processor): SIGSTOP the
    whole processor (Python and JVM), a hung process whose /metrics no longer answers. The
    target-down page reaches the webhook, and the freshness page that burns again meanwhile is
    inhibited behind it in Alertmanager; SIGCONT, and the target-down page resolves."""
    wait_futures(after)
    down = named("CryptopipeTargetDown", service="processor")
    processor = p.process("processor")
    stopped_at = time.time()
    processor.kill(signal.SIGSTOP)
    try:
        note, alert = delivered(receiver, down, "firing", stopped_at, 240)
        assert note.receiver == "page"
        assert alert["labels"]["severity"] == "page"
        assert alert["annotations"]["runbook_url"] == "docs/runbooks/CryptopipeTargetDown.md"

        table = cli(mon.cli_env(p.stack), "alerts").stdout
        line = next(
            li for li in table.splitlines() if "CryptopipeTargetDown" in li and "processor" in li
        )
        assert line.split()[:4] == ["page", "CryptopipeTargetDown", "processor", "active"]
        assert "runbook: docs/runbooks/CryptopipeTargetDown.md" in table

        def inhibited() -> list[Alert]:
            return [
                a
                for a in get_json(f"{mon.alertmanager_url}/api/v2/alerts")
                if a["labels"].get("alertname") == "CryptopipeFreshnessBudgetBurn"
                and a["labels"].get("symbol") in p.symbols
                and a["status"]["inhibitedBy"]
            ]

        assert eventually(inhibited, 120), "the freshness page is not inhibited by target-down"
    finally:
        processor.kill(signal.SIGCONT)
    resumed_at = time.time()
    gone, _ = delivered(receiver, down, "resolved", stopped_at, 240)
    return {
        "SIGSTOP -> page at the webhook": note.received_at - stopped_at,
        "SIGCONT -> resolved at the webhook": gone.received_at - resumed_at,
    }


def inhibition_alert(name: str, **labels: str) -> Alert:
    now = datetime.now(UTC)
    return {
        "labels": {"alertname": name, "test": "inhibition", **labels},
        "annotations": {"summary": f"{name} test", "runbook_url": f"docs/runbooks/{name}.md"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=10)).isoformat(),
    }


def routing_and_inhibition_on_a_private_alertmanager(
    stack: RunningStack, private_alertmanager: PrivateAlertmanager, receiver: WebhookReceiver
) -> Timings:
    """The repo's Alertmanager config on a real Alertmanager of its own (not the live one, no
    pipeline involved): routing by severity, inhibition, delivery to the webhook's PRIVATE_PATH,
    and `cryptopipe alerts` on it. Alerts posted by hand, so it runs beside the live faults."""
    freshness_page = inhibition_alert(
        "CryptopipeFreshnessBudgetBurn", severity="page", slo="freshness", service="cryptopipe"
    )
    freshness_ticket = inhibition_alert(
        "CryptopipeFreshnessBudgetBurn", severity="ticket", slo="freshness", service="cryptopipe"
    )
    latency_ticket = inhibition_alert(
        "CryptopipeLatencyBudgetBurn", severity="ticket", slo="latency", service="cryptopipe"
    )
    ingestion_page = inhibition_alert(
        "CryptopipeIngestionBudgetBurn", severity="page", slo="ingestion", service="cryptopipe"
    )
    processor_down = inhibition_alert("CryptopipeTargetDown", severity="page", service="processor")
    gap_page = inhibition_alert("CryptopipeUnrecoverableGap", severity="page", service="producer")
    dlq_ticket = inhibition_alert("CryptopipeDLQNonEmpty", severity="ticket", service="producer")
    posted = [
        freshness_page,
        freshness_ticket,
        latency_ticket,
        ingestion_page,
        processor_down,
        gap_page,
        dlq_ticket,
    ]
    private_alertmanager.post(posted)
    posted_at = time.time()

    def states() -> dict[tuple[str, str], str]:
        out = {}
        for a in private_alertmanager.alerts():
            status = a["status"]
            state = "inhibited" if status["inhibitedBy"] else status["state"]
            out[(a["labels"]["alertname"], a["labels"]["severity"])] = state
        return out

    deadline = time.monotonic() + 30
    got: dict[tuple[str, str], str] = {}
    while time.monotonic() < deadline:
        got = states()
        if len(got) == 7 and "unprocessed" not in got.values():
            break
        time.sleep(1)
    assert got == {
        # the page of an SLO silences its ticket; the processor being down explains its SLOs
        ("CryptopipeFreshnessBudgetBurn", "ticket"): "inhibited",
        ("CryptopipeFreshnessBudgetBurn", "page"): "inhibited",
        ("CryptopipeLatencyBudgetBurn", "ticket"): "inhibited",
        # not the processor's SLO; and alerts without an slo never inhibit each other
        ("CryptopipeIngestionBudgetBurn", "page"): "active",
        ("CryptopipeTargetDown", "page"): "active",
        ("CryptopipeUnrecoverableGap", "page"): "active",
        ("CryptopipeDLQNonEmpty", "ticket"): "active",
    }

    # `cryptopipe alerts` on the same Alertmanager names each state
    env = {**stack.env(), "CRYPTOPIPE_ALERTMANAGER_URL": private_alertmanager.url}
    listed = json.loads(cli(env, "alerts", "--json").stdout)["alerts"]
    assert {(a["name"], a["severity"]): a["state"] for a in listed} == got
    severities = [a["severity"] for a in listed]
    assert severities == sorted(severities, key=["page", "ticket"].index), "pages first"
    assert all(a["runbook"] == f"docs/runbooks/{a['name']}.md" for a in listed)
    table = cli(env, "alerts").stdout
    assert "runbook: docs/runbooks/CryptopipeTargetDown.md" in table
    assert "7 alert(s), 4 page(s)" in table

    # delivered: pages to the page receiver after 10 s, tickets to the ticket one after 1 min;
    # inhibited alerts never leave Alertmanager
    def delivered() -> dict[tuple[str, str], str]:
        return {
            (a["labels"]["alertname"], a["labels"]["severity"]): n.receiver
            for n in receiver.notifications(PRIVATE_PATH)
            for a in n.alerts()
            if a["labels"].get("test") == "inhibition"
        }

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(delivered()) < 4:
        time.sleep(2)
    delivered_at = time.time()
    time.sleep(5)
    assert delivered() == {
        ("CryptopipeIngestionBudgetBurn", "page"): "page",
        ("CryptopipeTargetDown", "page"): "page",
        ("CryptopipeUnrecoverableGap", "page"): "page",
        ("CryptopipeDLQNonEmpty", "ticket"): "ticket",
    }
    groups = {
        json.dumps(n.payload["groupLabels"], sort_keys=True)
        for n in receiver.notifications(PRIVATE_PATH)
    }
    assert (
        json.dumps(
            {
                "alertname": "CryptopipeIngestionBudgetBurn",
                "service": "cryptopipe",
                "slo": "ingestion",
            },
            sort_keys=True,
        )
        in groups
    ), "grouped by alertname, slo and service"

    # resolve them all so the Alertmanager is empty again
    now = datetime.now(UTC).isoformat()
    private_alertmanager.post([{**a, "endsAt": now} for a in posted])
    return {"post -> the four notifications at the webhook": delivered_at - posted_at}


class Scenarios:
    """The fault scenarios, started together in threads; each test waits for its own."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="scenario")
        self.futures: dict[str, Future[Timings]] = {}
        self.started_at = time.time()

    def start(self, name: str, fn: Callable[..., Timings], *args: Any) -> Future[Timings]:
        self.futures[name] = self.pool.submit(fn, *args)
        return self.futures[name]

    def result(self, name: str) -> Timings:
        timings = self.futures[name].result(timeout=1500)
        done = time.time() - self.started_at
        print(f"\n{name} (done {done:.0f}s after the faults began):")
        for what, seconds in timings.items():
            print(f"  {what}: {seconds:.0f}s")
        return timings


@pytest.fixture(scope="module")
def scenarios(
    pipeline: Pipeline,
    monitoring: LiveMonitoring,
    receiver: WebhookReceiver,
    private_alertmanager: PrivateAlertmanager,
) -> Iterator[Scenarios]:
    run = Scenarios()
    args = (pipeline, monitoring, receiver)
    am = (pipeline.stack, private_alertmanager, receiver)
    run.start("routing", routing_and_inhibition_on_a_private_alertmanager, *am)
    freshness = run.start("freshness", freshness_page_when_spark_stops, *args)
    run.start("ingestion", ingestion_page_when_the_exchange_goes_silent, *args)
    run.start("dlq", dlq_ticket_on_a_burst_of_malformed_frames, *args)
    double = run.start("double_counted", completeness_page_on_a_double_counted_trade, *args)
    run.start("target_down", target_down_page_when_the_processor_hangs, *args, [freshness, double])
    try:
        yield run
    finally:
        run.pool.shutdown(wait=True)


# --- the tests ---------------------------------------------------------------------------------

SLO_PAGES_OF_THE_FAULTS = {"CryptopipeFreshnessBudgetBurn", "CryptopipeIngestionBudgetBurn"}


def test_a_healthy_pipeline_raises_none_of_the_pipeline_alerts(
    pipeline: Pipeline, monitoring: LiveMonitoring, receiver: WebhookReceiver
) -> None:
    """Nothing pending or firing for 60 s (12 evaluations: a condition that holds shows as
    pending at the first), neither the hand-written pipeline alerts nor the SLO alerts the
    faults below must raise."""
    started = time.time()
    seen: list[Alert] = []

    def ours(alert: Alert) -> bool:
        name = alert["labels"].get("alertname")
        return concerning(pipeline, alert) or (
            name in SLO_PAGES_OF_THE_FAULTS
            and alert["labels"].get("symbol") in (None, *pipeline.symbols)
        )

    while time.time() - started < 60:
        seen += [a for a in monitoring.alerts() if ours(a)]
        time.sleep(5)
    assert seen == [], "pending or firing on a healthy pipeline"
    fired = [
        a
        for n in receiver.notifications(LIVE_PATH)
        for a in n.alerts()
        if a["status"] == "firing" and ours(a)
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


def test_a_stopped_spark_jvm_pages_freshness_and_resolves(scenarios: Scenarios) -> None:
    scenarios.result("freshness")


def test_a_silent_exchange_pages_ingestion_and_resolves(scenarios: Scenarios) -> None:
    scenarios.result("ingestion")


def test_a_burst_of_malformed_frames_tickets_without_paging(scenarios: Scenarios) -> None:
    scenarios.result("dlq")


def test_a_double_counted_trade_pages_through_alertmanager_and_resolves(
    scenarios: Scenarios,
) -> None:
    scenarios.result("double_counted")


def test_a_hung_processor_pages_target_down_through_alertmanager_and_resolves(
    scenarios: Scenarios,
) -> None:
    scenarios.result("target_down")


def test_routing_and_inhibition_on_a_real_alertmanager(scenarios: Scenarios) -> None:
    scenarios.result("routing")
