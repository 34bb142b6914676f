"""One of three brokers SIGKILLed under load: the processor's /metrics still answers at once,
Prometheus keeps scraping it, and its Kafka lag does not read 0 (issue 17, item 4).

A real `cryptopipe process` runs against a 3-broker cluster started by the project's Stack (on
port_base()+500, so beside the session stack), with trades produced live. The cluster's own
Prometheus scrapes the processor every 5 s (scrape timeout 5 s): a scrape that waits for a dead
broker turns ``up`` to 0.

The load uses acks=1 on purpose: with acks=all every write stalls for the election (the ISR
still holds the dead broker until the controller fences it), so nothing would land while the
partitions of the dead leader cannot be read, which is the moment a lag taken from the progress
alone reads 0. With acks=1, trades keep landing on the partitions whose leader is alive.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from tests.conftest import RunningStack, port_base, stack_settings_for, started_stack
from tests.integration.processor.dataset import T

pytestmark = [pytest.mark.kafka, pytest.mark.mysql, pytest.mark.spark, pytest.mark.cluster]

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT"]
RATE_PER_S = 200
OUTAGE_S = 45.0
SCRAPE_EVERY_S = 0.5
SCRAPE_BOUND_S = 2.0  # generous: the Prometheus scrape timeout is 5 s, a good scrape takes ms
P = "cryptopipe_processor_"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    state_dir = tmp_path_factory.mktemp("lag-cluster")
    with started_stack(stack_settings_for(state_dir, port_base() + 500, brokers=3)) as cluster:
        yield cluster


class LiveTrades(threading.Thread):
    """Valid trades stamped now, ``RATE_PER_S`` a second over the symbols, until stopped."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(name="live-trades", daemon=True)
        self._producer = Producer(
            {"bootstrap.servers": bootstrap, "acks": "1", "linger.ms": 5, "retries": 1000}
        )
        self._topic = topic
        self._stop_event = threading.Event()
        self.sent = 0
        self.errors = 0

    def _report(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self.errors += 1

    def run(self) -> None:
        next_id = dict.fromkeys(SYMBOLS, 1)
        while not self._stop_event.is_set():
            t_us = time.time_ns() // 1000
            for _ in range(RATE_PER_S // 10):
                sym = SYMBOLS[self.sent % len(SYMBOLS)]
                trade = T(sym, next_id[sym], "100.50000000", "0.01000000", t_us, False)
                next_id[sym] += 1
                with contextlib.suppress(BufferError):
                    self._producer.produce(
                        self._topic, key=sym.encode(), value=trade.value(), on_delivery=self._report
                    )
                    self.sent += 1
            self._producer.poll(0)
            self._stop_event.wait(0.1)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)
        self._producer.flush(30)


@dataclass
class Scrape:
    at_s: float  # since the broker was killed (negative: before)
    took_s: float
    values: dict[str, float]


def scrape(port: int, at_s: float) -> Scrape:
    t0 = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    took = time.monotonic() - t0
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            values[series] = float(value)
    return Scrape(at_s, took, values)


def of_topic(s: Scrape, name: str, topic: str) -> float | None:
    return s.values.get(f'{P}{name}{{topic="{topic}"}}')


def lag_of(s: Scrape, topic: str) -> float | None:
    return of_topic(s, "kafka_offsets_behind_latest", topic)


def prometheus_value(port: int, promql: str) -> float | None:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as resp:
        result = json.loads(resp.read())["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def committed_batches(cluster: RunningStack) -> int:
    conn = cluster.app_connection()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM processor_batches")
            row = cur.fetchone()
            return int(row[0]) if row else 0
    finally:
        conn.close()


def busiest_leader(cluster: RunningStack, topic: str) -> int:
    """The broker leading the most partitions of ``topic`` (the one whose death hurts most)."""
    admin = AdminClient({"bootstrap.servers": cluster.settings.bootstrap_servers()})
    parts = admin.list_topics(topic, timeout=10).topics[topic].partitions.values()
    leaders = [p.leader for p in parts]
    return max(set(leaders), key=leaders.count)


def start_processor(cluster: RunningStack, checkpoint: Path, log: Path) -> subprocess.Popen[bytes]:
    env = cluster.env()
    env.update(
        {
            "CRYPTOPIPE_CHECKPOINT_DIR": str(checkpoint),
            "CRYPTOPIPE_TRIGGER_INTERVAL_S": "1",
            "CRYPTOPIPE_STARTING_OFFSETS": "latest",
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "cryptopipe.processor.cli"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the Spark JVM dies with it
    )


def test_metrics_answer_and_lag_holds_while_one_of_three_brokers_is_down(
    cluster: RunningStack, tmp_path: Path
) -> None:
    s = cluster.settings
    topic, port = s.topic_trades, s.processor_metrics_port
    load = LiveTrades(s.bootstrap_servers(), topic)
    load.start()
    log = tmp_path / "process.log"
    proc = start_processor(cluster, tmp_path / "ckpt", log)
    scrapes: list[Scrape] = []
    try:
        deadline = time.monotonic() + 300
        while committed_batches(cluster) < 5:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        for _ in range(6):
            scrapes.append(scrape(port, -1.0))
            time.sleep(SCRAPE_EVERY_S)
        victim = busiest_leader(cluster, topic)
        batches_at_kill = committed_batches(cluster)
        pid = cluster.stack.process(f"kafka-{victim}").pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        while (at := time.monotonic() - killed) < OUTAGE_S:
            scrapes.append(scrape(port, at))
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(SCRAPE_EVERY_S)
        batches_after = committed_batches(cluster)
        up_min = prometheus_value(
            s.prometheus_port, f'min_over_time(up{{job="cryptopipe-processor"}}[{int(OUTAGE_S)}s])'
        )
        up_count = prometheus_value(
            s.prometheus_port,
            f'count_over_time(up{{job="cryptopipe-processor"}}[{int(OUTAGE_S)}s])',
        )
    finally:
        load.stop()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)

    during = [x for x in scrapes if x.at_s >= 0]
    before = [x for x in scrapes if x.at_s < 0]
    lags = [lag_of(x, topic) for x in during]
    took = [x.took_s for x in during]
    print(
        f"\nscrapes before the kill: max {max(x.took_s for x in before) * 1000:.1f} ms; "
        f"during {OUTAGE_S:.0f} s with broker {victim} killed: {len(during)} scrapes, "
        f"median {statistics.median(took) * 1000:.1f} ms, max {max(took) * 1000:.1f} ms; "
        f"lag min {min(v for v in lags if v is not None):.0f} "
        f"max {max(v for v in lags if v is not None):.0f}; "
        f"batches {batches_at_kill} -> {batches_after}; Prometheus up min {up_min} "
        f"over {up_count} scrapes; trades sent {load.sent}, delivery errors {load.errors}; "
        f"load {os.getloadavg()}"
    )
    print("at_s took_ms lag age failures:")
    for x in during:
        age = of_topic(x, "kafka_end_offsets_age_seconds", topic)
        failures = of_topic(x, "kafka_end_offsets_refresh_failures_total", topic)
        print(f"  {x.at_s:5.1f} {x.took_s * 1000:7.1f} {lag_of(x, topic)} {age} {failures}")

    assert max(took) < SCRAPE_BOUND_S, "a scrape waited for Kafka"
    assert up_min == 1.0, "Prometheus lost the processor's target during the outage"
    assert all(v is not None and v > 0 for v in lags), "lag read 0 while trades were produced"
    failures = of_topic(during[-1], "kafka_end_offsets_refresh_failures_total", topic)
    assert failures is not None and failures > 0, "the reads of the dead leader's partitions failed"
    ages = [of_topic(x, "kafka_end_offsets_age_seconds", topic) or 0.0 for x in during]
    assert max(ages) >= 2.0, "and their age showed it"
