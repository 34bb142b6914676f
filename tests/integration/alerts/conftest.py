"""Fixtures of the alerting tests: a webhook receiver, a private Alertmanager loading the repo's
config, and the pipeline (producer, processor, audit) running on the test stack with the stack's
Alertmanager posting to the receiver."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cryptopipe.exchange import BinanceEmulator
from cryptopipe.runner.cli import service_commands, service_env
from cryptopipe.stack import prometheus
from cryptopipe.stack.kafka import starting_offsets_at_end
from cryptopipe.stack.manager import Stack, tail
from cryptopipe.stack.process import ManagedProcess, wait_until
from cryptopipe.stack.settings import StackSettings
from tests.conftest import RunningStack, port_base
from tests.integration.alerts.webhook import WebhookReceiver
from tests.support import monitoring as support

PRIVATE_PATH = "/private"
STACK_PATH = "/stack"
LIVE_PATH = "/live"  # the live module's own Prometheus -> Alertmanager -> this path


def get_json(url: str, timeout_s: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        return json.load(resp)


def prom_query_at(port: int, query: str) -> list[dict[str, Any]]:
    base = prometheus.url(port)
    data = get_json(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': query})}")
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


def prom_alerts_at(port: int) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = get_json(f"{prometheus.url(port)}/api/v1/alerts")["data"][
        "alerts"
    ]
    return alerts


def prom_query(stack: RunningStack, query: str) -> list[dict[str, Any]]:
    return prom_query_at(stack.settings.prometheus_port, query)


def prom_alerts(stack: RunningStack) -> list[dict[str, Any]]:
    return prom_alerts_at(stack.settings.prometheus_port)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cryptopipe.cli", "--log-format", "text", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver(port_base() + 95)
    try:
        yield hook
    finally:
        hook.close()


@dataclass
class PrivateAlertmanager:
    """A real Alertmanager of its own (not the shared stack's), loading the repo's config."""

    port: int
    process: ManagedProcess

    @property
    def url(self) -> str:
        return prometheus.url(self.port)

    def post(self, alerts: list[dict[str, Any]]) -> None:
        request = urllib.request.Request(
            f"{self.url}/api/v2/alerts",
            data=json.dumps(alerts).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200

    def alerts(self) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = get_json(f"{self.url}/api/v2/alerts")
        return got


@pytest.fixture(scope="module")
def private_alertmanager(
    receiver: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrivateAlertmanager]:
    base = tmp_path_factory.mktemp("private-am")
    settings = StackSettings(
        state_dir=base,
        alertmanager_port=port_base() + 96,
        alert_webhook_url=receiver.url(PRIVATE_PATH),
    )
    config = base / "alertmanager.yml"
    config.write_text(prometheus.render_alertmanager_config(settings))
    proc = ManagedProcess("alertmanager-private", base / "run", base / "logs")
    proc.start(prometheus.alertmanager_command(settings, config))
    try:
        ready = wait_until(lambda: prometheus.is_ready(settings.alertmanager_port), 60)
        assert ready, tail(proc.log_file, 20)
        yield PrivateAlertmanager(settings.alertmanager_port, proc)
    finally:
        proc.stop(20)


class Market:
    """The trading on a :class:`BinanceEmulator`: ``rate`` trades per second of each symbol, in
    a thread, until stopped. A silenced symbol gets no trade (its stream stays open, pings go
    on): the exchange went quiet without closing anything."""

    def __init__(self, emulator: BinanceEmulator, rate: float) -> None:
        self.emulator = emulator
        self.rate = rate
        self.silent: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="market", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0 / self.rate):
            for symbol in self.emulator.symbols:
                if symbol not in self.silent:
                    self.emulator.publish(symbol)

    def silence(self, symbol: str) -> None:
        self.silent.add(symbol)

    def resume(self, symbol: str) -> None:
        self.silent.discard(symbol)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@dataclass
class Pipeline:
    stack: RunningStack
    symbols: list[str]  # upper case, as on the topic
    env: dict[str, str]
    commands: dict[str, list[str]]
    market: Market | None = None  # with PIPELINE_SOURCE = "binance"

    def process(self, name: str) -> ManagedProcess:
        return self.stack.stack.process(name)

    def start(self, name: str) -> None:
        self.process(name).start(self.commands[name], env=self.env)

    def cli_env(self) -> dict[str, str]:
        return self.stack.env()


PIPELINE = ("producer", "processor", "audit")


@pytest.fixture(scope="module")
def pipeline(
    request: pytest.FixtureRequest, stack: RunningStack, receiver: WebhookReceiver
) -> Iterator[Pipeline]:
    """Producer (synthetic, 20 trades/s, sampled traces), processor and audit --watch on the
    test stack, the stack's Alertmanager posting to ``receiver``; healthy before it yields.

    A module that sets ``PIPELINE_QUIET = False`` only needs data flowing (targets up, fresh
    candles): this processor starts at the topic's end, so earlier modules' trades on the topic
    keep the audit (which scans it all) and its alerts busy. ``PIPELINE_SOURCE = "binance"``
    runs ``produce --source binance`` against a local :class:`BinanceEmulator` whose market
    (``Pipeline.market``) trades 10 trades/s of each symbol."""
    quiet = bool(getattr(request.module, "PIPELINE_QUIET", True))
    source = str(getattr(request.module, "PIPELINE_SOURCE", "synthetic"))
    # the stack's Alertmanager delivers to our receiver: `stack up` rewrites and reloads
    Stack(stack.settings.model_copy(update={"alert_webhook_url": receiver.url(STACK_PATH)})).up()
    tag = uuid.uuid4().hex[:5]
    symbols = [f"al{tag}ausdt", f"al{tag}busdt"]
    env = {
        **service_env(stack.settings),
        "CRYPTOPIPE_SYMBOLS": ",".join(symbols),
        "CRYPTOPIPE_QUERY_NAME": f"alerts-{tag}",
        "CRYPTOPIPE_STARTING_OFFSETS": starting_offsets_at_end(stack.settings),
        "CRYPTOPIPE_TRACE_SAMPLE_RATIO": "0.2",
        "CRYPTOPIPE_WATCH_INTERVAL_S": "5",
    }
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    emulator: BinanceEmulator | None = None
    market: Market | None = None
    if source == "binance":
        emulator = BinanceEmulator(symbols)
        emulator.start()
        market = Market(emulator, rate=10.0)
        env["CRYPTOPIPE_BINANCE_WS_URL"] = emulator.ws_url
        env["CRYPTOPIPE_BINANCE_REST_URL"] = emulator.rest_url
    commands = service_commands(source, ",".join(symbols), 20.0, {})
    p = Pipeline(stack, [s.upper() for s in symbols], env, commands, market)
    for name in PIPELINE:
        assert not p.process(name).is_running(), f"a {name} is already running on the test stack"
    # the processor first: its Spark start-up is the slow part
    for name in ("processor", "producer", "audit"):
        p.start(name)
    try:
        wait_healthy(p, timeout_s=420, quiet=quiet)
        yield p
    finally:
        for name in PIPELINE:
            p.process(name).stop(60)
        if market is not None and emulator is not None:
            market.stop()
            emulator.stop()
        Stack(stack.settings).up()  # the stack's own Alertmanager config again


def wait_healthy(p: Pipeline, timeout_s: float, *, quiet: bool = True) -> None:
    """All three targets up, freshness for both symbols; if ``quiet``, also a complete audit
    and none of the pipeline alerts about it."""
    mine = "|".join(p.symbols)

    def healthy() -> bool:
        for name in PIPELINE:
            if not p.process(name).is_running():
                raise AssertionError(f"{name} exited:\n{tail(p.process(name).log_file, 30)}")
        up = prom_query(p.stack, 'up{job=~"cryptopipe-(producer|processor|audit)"} == 1')
        fresh = prom_query(
            p.stack, f'cryptopipe_processor_freshness_seconds{{symbol=~"{mine}"}} < 15'
        )
        audit = prom_query(p.stack, "cryptopipe_audit_last_success == 1")
        # what the start-up raised (targets down before the services listened) has resolved
        leftovers = [a for a in prom_alerts(p.stack) if concerning(p, a)]
        if not quiet:
            return len(up) == 3 and len(fresh) == 2
        return len(up) == 3 and len(fresh) == 2 and len(audit) == 1 and not leftovers

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if healthy():
            return
        time.sleep(2)
    logs = "\n".join(f"--- {n}\n{tail(p.process(n).log_file, 15)}" for n in PIPELINE)
    raise AssertionError(f"the pipeline did not become healthy in {timeout_s:.0f}s\n{logs}")


# The hand-written alerts a healthy pipeline must never raise, not even as pending. (The DLQ
# alerts are left out: another test of the session may have fed the DLQ in the last 15 min,
# which they rightly report; the SLO burn-rate alerts are tested with the SLO rules.)
PIPELINE_ALERTS = {
    "CryptopipeTargetDown",
    "CryptopipeFreshnessAbsent",
    "CryptopipeLatencyAbsent",
    "CryptopipeProducerSLIAbsent",
    "CryptopipeProducerDisconnected",
    "CryptopipeProducerNotReceiving",
    "CryptopipeTradesMissing",
    "CryptopipeTradesDoubleCounted",
    "CryptopipeTopicIdsMissing",
    "CryptopipeRejectionMismatch",
    "CryptopipeAuditStale",
}


def concerning(p: Pipeline, alert: dict[str, Any]) -> bool:
    """A pipeline alert about our pipeline (our symbols, or no symbol at all)."""
    labels = alert["labels"]
    if labels.get("alertname") not in PIPELINE_ALERTS:
        return False
    symbol = labels.get("symbol")
    return symbol is None or symbol in p.symbols


def settled_window(p: Pipeline, older_than_s: float, timeout_s: float) -> tuple[str, Any]:
    """A 1m candle of our first symbol that the audit covers (closed well before now)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        conn = p.stack.admin_connection()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT symbol, window_start FROM cryptopipe.candles WHERE symbol = %s "
                    "AND bar_interval = '1m' AND window_end <= UTC_TIMESTAMP() - INTERVAL %s "
                    "SECOND ORDER BY window_start DESC LIMIT 1",
                    (p.symbols[0], int(older_than_s)),
                )
                row = cur.fetchone()
        finally:
            conn.close()
        if row:
            return str(row[0]), row[1]
        time.sleep(5)
    raise AssertionError(f"no 1m candle of {p.symbols[0]} closed {older_than_s}s ago")


def add_to_trade_count(p: Pipeline, symbol: str, window_start: Any, delta: int) -> None:
    conn = p.stack.admin_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "UPDATE cryptopipe.candles SET trade_count = trade_count + %s "
                "WHERE symbol = %s AND bar_interval = '1m' AND window_start = %s",
                (delta, symbol, window_start),
            )
            assert cur.rowcount == 1
        conn.commit()
    finally:
        conn.close()


def alerts_env(stack: RunningStack, **extra: str) -> dict[str, str]:
    return {**stack.env(), **extra}


# The live module's monitoring: a Prometheus and an Alertmanager of its own, built by the
# stack's code from the stack's settings (same scrape targets, rules and alertmanager.yml; 5 s
# scrape and evaluation), posting to the receiver's LIVE_PATH. Not the session stack's
# Prometheus: its SLO windows hold the whole session (hours of "no producer" between other
# tests' runs keep the ingestion page firing), so no SLO page could be seen to start there.
# Seeded (tests/support/monitoring.py) with 5 h of healthy slices ending an hour before it
# starts: the symbols traded and were fresh, the producer received them, then the market paused
# for an hour. So the 6 h windows hold hours of good slices, as in production, and the 30 m/6 h
# page cannot latch on a few bad minutes (a Prometheus that only knows this module keeps that
# page firing for ~30 min after any outage: docs/alerting.md), while the 1 h and 5 m windows
# hold only what the test does.
SEED_SPAN_S = 5 * 3600
SEED_END_AGO_S = 3660


@dataclass(frozen=True)
class LiveMonitoring(support.Monitoring):
    def alerts(self) -> list[dict[str, Any]]:
        return prom_alerts_at(self.settings.prometheus_port)

    def firing(self, match: Any) -> list[dict[str, Any]]:
        return [a for a in self.alerts() if a["state"] == "firing" and match(a)]

    @property
    def alertmanager_url(self) -> str:
        return prometheus.url(self.settings.alertmanager_port)

    def cli_env(self, stack: RunningStack) -> dict[str, str]:
        return {
            **stack.env(),
            "CRYPTOPIPE_ALERTMANAGER_URL": self.alertmanager_url,
            "CRYPTOPIPE_PROMETHEUS_URL": prometheus.url(self.settings.prometheus_port),
        }


@pytest.fixture(scope="module")
def monitoring(
    pipeline: Pipeline, receiver: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveMonitoring]:
    """Started once the pipeline is healthy, so its history has no start-up outage in it."""
    settings = pipeline.stack.settings.model_copy(
        update={
            "state_dir": tmp_path_factory.mktemp("live-monitoring"),
            "prometheus_port": port_base() + 87,
            "alertmanager_port": port_base() + 88,
            "alert_webhook_url": receiver.url(LIVE_PATH),
        }
    )
    seed = (pipeline.symbols, int(time.time()) - SEED_END_AGO_S, SEED_SPAN_S, 0.0)
    with support.fresh_monitoring(settings, seed):
        mon = LiveMonitoring(settings)
        mine = "|".join(pipeline.symbols)

        def scraping() -> bool:
            up = mon.query('up{job=~"cryptopipe-(producer|processor|audit)"} == 1')
            eligible = mon.query(f'cryptopipe:freshness_slice:eligible{{symbol=~"{mine}"}} == 1')
            return len(up) == 3 and len(eligible) == len(pipeline.symbols)

        assert wait_until(scraping, 60), "the live Prometheus does not see the pipeline"
        yield mon


def spark_jvm_pid(processor: ManagedProcess) -> int:
    """The processor's Spark JVM (PySpark's child `java ... SparkSubmit`): stopping it alone
    leaves the Python process and its /metrics server running."""
    root = processor.pid()
    assert root is not None, "the processor is not running"
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo, found = [root], []
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            todo.append(child)
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmdline and cmdline[0].endswith(b"java"):
                found.append(child)
    assert len(found) == 1, f"expected one JVM under the processor (pid {root}), got {found}"
    return found[0]
