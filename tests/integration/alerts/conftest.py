"""Fixtures of the alerting tests: a webhook receiver, a private Alertmanager loading the repo's
config, and the pipeline (producer, processor, audit) running on the test stack with the stack's
Alertmanager posting to the receiver."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cryptopipe.runner.cli import service_commands, service_env
from cryptopipe.stack import prometheus
from cryptopipe.stack.manager import Stack, tail
from cryptopipe.stack.process import ManagedProcess, wait_until
from cryptopipe.stack.settings import StackSettings
from tests.conftest import RunningStack, port_base
from tests.integration.alerts.webhook import WebhookReceiver
from tests.integration.e2e.test_pipeline_e2e import end_offsets

PRIVATE_PATH = "/private"
STACK_PATH = "/stack"


def get_json(url: str, timeout_s: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        return json.load(resp)


def prom_query(stack: RunningStack, query: str) -> list[dict[str, Any]]:
    base = prometheus.url(stack.settings.prometheus_port)
    data = get_json(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': query})}")
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


def prom_alerts(stack: RunningStack) -> list[dict[str, Any]]:
    base = prometheus.url(stack.settings.prometheus_port)
    alerts: list[dict[str, Any]] = get_json(f"{base}/api/v1/alerts")["data"]["alerts"]
    return alerts


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


@dataclass
class Pipeline:
    stack: RunningStack
    symbols: list[str]  # upper case, as on the topic
    env: dict[str, str]
    commands: dict[str, list[str]]

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
    keep the audit (which scans it all) and its alerts busy."""
    quiet = bool(getattr(request.module, "PIPELINE_QUIET", True))
    # the stack's Alertmanager delivers to our receiver: `stack up` rewrites and reloads
    Stack(stack.settings.model_copy(update={"alert_webhook_url": receiver.url(STACK_PATH)})).up()
    tag = uuid.uuid4().hex[:5]
    symbols = [f"al{tag}ausdt", f"al{tag}busdt"]
    starts = end_offsets(stack)
    env = {
        **service_env(stack.settings),
        "CRYPTOPIPE_SYMBOLS": ",".join(symbols),
        "CRYPTOPIPE_QUERY_NAME": f"alerts-{tag}",
        "CRYPTOPIPE_STARTING_OFFSETS": json.dumps(
            {stack.settings.topic_trades: {str(p): o for p, o in starts.items()}}
        ),
        "CRYPTOPIPE_TRACE_SAMPLE_RATIO": "0.2",
        "CRYPTOPIPE_WATCH_INTERVAL_S": "5",
    }
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    commands = service_commands("synthetic", ",".join(symbols), 20.0, {})
    p = Pipeline(stack, [s.upper() for s in symbols], env, commands)
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
