"""The whole pipeline: synthetic producer -> Kafka -> Spark processor -> MySQL, observed.

One run checks what a newcomer is promised: the candles equal an independent Decimal computation
of the trades on the topic, `cryptopipe audit` proves nothing was lost or double counted, both
/metrics endpoints expose the SLI families with sane values, and a sampled trade's producer and
processor spans share its trace id (exported over OTLP to a local receiver).
"""

from __future__ import annotations

import calendar
import json
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from cryptopipe.runner.progress import parse
from cryptopipe.stack.kafka import end_offsets
from tests.conftest import RunningStack
from tests.support.otlp_receiver import OtlpReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.spark, pytest.mark.kafka, pytest.mark.mysql]

TRADES = 3000
INTERVALS = {"1s": 1_000_000, "1m": 60_000_000}


@dataclass
class Run:
    symbols: list[str]
    start_offsets: dict[int, int]
    env: dict[str, str]
    otlp: OtlpReceiver
    producer_metrics: dict[str, list[tuple[dict[str, str], float]]]
    processor_metrics_text: str
    audit: dict[str, Any]
    processor_exit: int | None
    logs: Path


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cryptopipe.cli", *args]


def scrape(url: str, openmetrics: bool = False) -> str:
    request = urllib.request.Request(url)
    if openmetrics:
        request.add_header("Accept", "application/openmetrics-text; version=1.0.0")
    with urllib.request.urlopen(request, timeout=5) as resp:
        return str(resp.read().decode())


def wait_for(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def run(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tag = uuid.uuid4().hex[:5].upper()
    symbols = [f"E{tag}AUSDT", f"E{tag}BUSDT"]
    logs = tmp_path_factory.mktemp("e2e")
    starts = end_offsets(stack.settings, stack.settings.topic_trades)
    with OtlpReceiver() as otlp:
        env = {
            **stack.env(),
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "CRYPTOPIPE_TRACE_SAMPLE_RATIO": "0.02",
            "CRYPTOPIPE_QUERY_NAME": f"e2e-{tag.lower()}",
            "CRYPTOPIPE_STARTING_OFFSETS": json.dumps(
                {stack.settings.topic_trades: {str(p): o for p, o in starts.items()}}
            ),
            "CRYPTOPIPE_LOG_FORMAT": "json",
        }
        s = stack.settings
        with (logs / "processor.log").open("wb") as plog:
            processor = subprocess.Popen(cli("process"), env=env, stdout=plog, stderr=plog)
            try:
                proc_url = f"http://127.0.0.1:{s.processor_metrics_port}/metrics"
                wait_for(lambda: scrape(proc_url), 180, "the processor's /metrics")
                with (logs / "producer.log").open("wb") as prod_log:
                    producer = subprocess.Popen(
                        cli(
                            "produce",
                            "--source",
                            "synthetic",
                            "--symbols",
                            ",".join(symbols),
                            "--rate",
                            "600",
                            "--count",
                            str(TRADES),
                            "--seed",
                            "11",
                        ),
                        env=env,
                        stdout=prod_log,
                        stderr=prod_log,
                    )
                    prod_url = f"http://127.0.0.1:{s.producer_metrics_port}/metrics"
                    producer_metrics = wait_for(
                        lambda: (
                            (m := parse(scrape(prod_url))).get(
                                "cryptopipe_producer_trades_produced_total"
                            )
                            and m
                        ),
                        60,
                        "the producer's metrics while it runs",
                    )
                    assert producer.wait(120) == 0, (logs / "producer.log").read_text()[-3000:]
                audit = subprocess.run(
                    cli("audit", "--symbols", ",".join(symbols), "--wait", "240", "--json"),
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                    check=False,
                )
                assert audit.returncode == 0, audit.stdout + audit.stderr
                # the processor exports its spans in the background: give them a moment
                deadline = time.monotonic() + 20
                while len({sp.service for sp in otlp.snapshot()}) < 2:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.5)

                # the lag is known from the query's first progress event, which Spark's listener
                # bus delivers after the batch (CI: a run of one batch was scraped before it)
                def with_lag() -> str | None:
                    text = scrape(proc_url, openmetrics=True)
                    return (
                        text
                        if "cryptopipe_processor_kafka_offsets_behind_latest{" in text
                        else None
                    )

                processor_text = wait_for(
                    with_lag, 60, "the processor's lag, after its first progress event"
                )
            finally:
                processor.terminate()
                try:
                    exit_code: int | None = processor.wait(90)
                except subprocess.TimeoutExpired:
                    processor.kill()
                    exit_code = None
        yield Run(
            symbols,
            starts,
            env,
            otlp,
            producer_metrics,
            processor_text,
            json.loads(audit.stdout),
            exit_code,
            logs,
        )


def topic_trades(stack: RunningStack, run: Run) -> list[dict[str, Any]]:
    consumer = Consumer(
        {
            "bootstrap.servers": stack.settings.bootstrap_servers(),
            "group.id": f"e2e-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    topic = stack.settings.topic_trades
    ends = end_offsets(stack.settings, stack.settings.topic_trades)
    consumer.assign([TopicPartition(topic, p, o) for p, o in run.start_offsets.items()])
    remaining = {p for p in ends if ends[p] > run.start_offsets.get(p, 0)}
    out = []
    deadline = time.monotonic() + 60
    while remaining and time.monotonic() < deadline:
        for msg in consumer.consume(1000, timeout=1.0):
            if msg.error() or msg.partition() not in remaining:
                continue
            doc = orjson.loads(msg.value() or b"{}")
            if doc.get("symbol") in run.symbols:
                out.append(doc)
            if (msg.offset() or 0) + 1 >= ends[msg.partition() or 0]:
                remaining.discard(msg.partition() or 0)
    consumer.close()
    return out


def expected_candles(trades: list[dict[str, Any]]) -> dict[tuple[str, str, int], dict[str, Any]]:
    """An independent Decimal computation of every candle (the contract in BRIEF.md)."""
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for t in trades:
        for label, size in INTERVALS.items():
            groups[(t["symbol"], label, t["trade_time_us"] // size * size)].append(t)
    out = {}
    for key, ts in groups.items():
        ordered = sorted(ts, key=lambda t: (t["trade_time_us"], t["trade_id"]))
        prices = [Decimal(t["price"]) for t in ts]
        volume = sum((Decimal(t["quantity"]) for t in ts), Decimal(0))
        quote = sum((Decimal(t["price"]) * Decimal(t["quantity"]) for t in ts), Decimal(0))
        out[key] = {
            "open": Decimal(ordered[0]["price"]),
            "high": max(prices),
            "low": min(prices),
            "close": Decimal(ordered[-1]["price"]),
            "volume": volume,
            "quote_volume": quote,
            "trade_count": len(ts),
            "taker_buy_volume": sum(
                (Decimal(t["quantity"]) for t in ts if not t["is_buyer_maker"]), Decimal(0)
            ),
            "first_trade_id": min(t["trade_id"] for t in ts),
            "last_trade_id": max(t["trade_id"] for t in ts),
        }
    return out


def test_candles_equal_an_independent_decimal_computation(stack: RunningStack, run: Run) -> None:
    trades = topic_trades(stack, run)
    assert len({(t["symbol"], t["trade_id"]) for t in trades}) == TRADES
    expected = expected_candles(trades)
    conn = stack.app_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT symbol, bar_interval, window_start, open, high, low, close, volume,"
                " quote_volume, trade_count, taker_buy_volume, first_trade_id, last_trade_id,"
                " vwap FROM candles WHERE symbol IN (%s, %s)",
                tuple(run.symbols),
            )
            rows = cur.fetchall()
    finally:
        conn.close()
    actual = {}
    for row in rows:
        start = row[2]
        start_us = calendar.timegm(start.timetuple()) * 1_000_000 + start.microsecond
        names = [
            "open",
            "high",
            "low",
            "close",
            "volume",
            "quote_volume",
            "trade_count",
            "taker_buy_volume",
            "first_trade_id",
            "last_trade_id",
        ]
        actual[(row[0], row[1], start_us)] = dict(zip(names, row[3:13], strict=True))
        assert row[13] == row[8] / row[7] or abs(row[13] - row[8] / row[7]) < Decimal("1e-15")
    assert actual.keys() == expected.keys()
    for key, want in expected.items():
        assert actual[key] == want, key


def test_audit_proves_nothing_lost_or_double_counted(run: Run) -> None:
    assert run.audit["ok"] is True
    results = {(r["symbol"], r["interval"]): r for r in run.audit["results"]}
    assert set(results) == {(s, i) for s in run.symbols for i in ("1s", "1m")}
    assert sum(r["topic_distinct"] for (s, i), r in results.items() if i == "1m") == TRADES
    assert all(r["missing"] == 0 and r["double_counted"] == 0 for r in results.values())


def test_both_services_expose_the_sli_families_with_sane_values(run: Run) -> None:
    produced = sum(v for _, v in run.producer_metrics["cryptopipe_producer_trades_produced_total"])
    assert 0 < produced <= TRADES
    assert "cryptopipe_producer_ingest_lag_seconds_bucket" in run.producer_metrics
    assert "cryptopipe_producer_delivery_latency_seconds_bucket" in run.producer_metrics

    metrics = parse(run.processor_metrics_text.replace("# EOF\n", ""))
    fresh = {lbl["symbol"]: v for lbl, v in metrics["cryptopipe_processor_freshness_seconds"]}
    for symbol in run.symbols:
        assert 0 <= fresh[symbol] < 600, fresh
    (e2e_count,) = [v for _, v in metrics["cryptopipe_processor_end_to_end_latency_seconds_count"]]
    assert e2e_count >= TRADES
    lag = [v for _, v in metrics["cryptopipe_processor_kafka_offsets_behind_latest"]]
    assert lag and all(v >= 0 for v in lag)
    assert 'trace_id="' in run.processor_metrics_text, "latency histogram carries exemplars"


def test_a_sampled_trade_is_one_trace_across_producer_and_processor(run: Run) -> None:
    spans = run.otlp.snapshot()
    published = {
        s.trace_id: s
        for s in spans
        if s.service == "cryptopipe-producer" and s.name == "crypto.trades publish"
    }
    processed = {
        s.trace_id: s
        for s in spans
        if s.service == "cryptopipe-processor" and s.name == "crypto.trades process"
    }
    assert published, "the producer sampled some trades"
    shared = published.keys() & processed.keys()
    assert shared, "processor spans continue the producers' traces"
    trace_id = next(iter(shared))
    assert processed[trace_id].parent_span_id == published[trace_id].span_id
    assert processed[trace_id].attributes["messaging.system"] == "kafka"
    batch = [s for s in spans if s.name == "crypto.trades process batch"]
    assert any((trace_id, published[trace_id].span_id) in s.links for s in batch), (
        trace_id,
        published[trace_id].span_id,
        [s.links[:3] for s in batch][:3],
        len(batch),
    )


def test_processor_stops_cleanly_on_sigterm(run: Run) -> None:
    assert run.processor_exit == 0


def test_service_logs_are_json_lines_with_service_names(run: Run) -> None:
    for name, service in (("producer", "cryptopipe-produce"), ("processor", "cryptopipe-process")):
        lines = (run.logs / f"{name}.log").read_text(errors="replace").splitlines()
        docs = [json.loads(line) for line in lines if line.startswith('{"ts"')]
        assert docs, f"{name} wrote JSON log lines"
        assert {d["service"] for d in docs} == {service}
        assert all({"ts", "level", "logger", "message"} <= d.keys() for d in docs)
