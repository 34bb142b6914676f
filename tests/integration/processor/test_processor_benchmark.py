"""Benchmarks of the processor on local[2] (print numbers; no timed assertions).

1. Throughput: a backlog of trades drained by the streaming query (1 s trigger), both intervals:
   overall, and sustained after the JVM warm-up.
2. Steady 5,000 trades/s and 50,000 trades/s sent live with a 1 s trigger: batch duration and
   end-to-end latency (trade time -> MySQL commit) p50/p99, and whether the backlog grows.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
import uuid
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer
from pyspark.sql import SparkSession

from cryptopipe.processor.job import BatchProcessor, run
from cryptopipe.processor.settings import ProcessorSettings
from tests.integration.processor.conftest import (
    StackFixture,
    create_topics,
    processor_settings,
    produce,
    query,
    truncate_state,
)
from tests.integration.processor.dataset import make_trades

pytestmark = [
    pytest.mark.benchmark,
    pytest.mark.heavy,
    pytest.mark.kafka,
    pytest.mark.mysql,
    pytest.mark.spark,
]

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT"]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def weighted_pct(pairs: list[tuple[float, int]], q: float) -> float:
    ordered = sorted(pairs)
    total = sum(n for _, n in ordered)
    running = 0
    for value, n in ordered:
        running += n
        if running >= q * total:
            return value
    return float("nan")


def e2e_latencies(processor: BatchProcessor, skip_first: int = 0) -> list[tuple[float, int]]:
    out: list[tuple[float, int]] = []
    for stats in list(processor.history)[skip_first:]:
        for t_us, n in stats.latency_buckets:
            # buckets are stored as their middle (10 ms wide for recent trades)
            out.append((stats.commit_s - t_us / 1e6, n))
    return out


WARMUP_TRADES = 500_000  # the first batches of a new JVM run while the JIT compiles the stages
STARTUP_BATCHES = 2  # of a steady test (the JVM is warm by then): query start, first fetch


def run_streaming(
    settings: ProcessorSettings, spark: SparkSession
) -> tuple[threading.Event, threading.Thread, dict[str, BatchProcessor]]:
    """`cryptopipe process` as a service runs it (1 s trigger), in a thread."""
    stop = threading.Event()
    holder: dict[str, BatchProcessor] = {}

    def processor_thread() -> None:
        holder["p"] = run(settings, stop=stop, spark=spark)

    worker = threading.Thread(target=processor_thread, daemon=True)
    worker.start()
    return stop, worker, holder


def wait_processed(stack: StackFixture, total: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = int(query(stack, "SELECT COALESCE(SUM(input_rows), 0) FROM processor_batches")[0][0])
        if done >= total:
            return
        time.sleep(0.5)


@pytest.mark.parametrize("per_batch", [100_000, 200_000], ids=["100k-batches", "default-200k"])
def test_throughput_of_a_backlog(
    stack: StackFixture, spark: SparkSession, tmp_path: Path, per_batch: int
) -> None:
    """A backlog drained by the streaming query (1 s trigger, ``per_batch`` per batch; 200,000 is
    the default maxOffsetsPerTrigger): every batch starts as soon as the previous one ends.
    Sustained = the trades of the batches after the warm-up (the first WARMUP_TRADES) over the
    wall time from the warm-up's last commit to the last commit, so the streaming engine's work
    between batches counts too."""
    per_symbol = 400_000
    topic = f"bench.backlog.{uuid.uuid4().hex[:8]}"
    create_topics(stack, [topic, f"{topic}.dlq"])
    trades = make_trades(SYMBOLS, per_symbol=per_symbol, span_s=12_000, seed=31)
    trades.sort(key=lambda t: t.trade_time_us)
    t0 = time.monotonic()
    produce(stack, topic, ((t.symbol.encode(), t.value()) for t in trades))
    produce_s = time.monotonic() - t0
    truncate_state(stack)
    settings = processor_settings(
        stack,
        topic,
        tmp_path / "ckpt",
        available_now=False,
        trigger_interval_s=1.0,
        max_offsets_per_trigger=per_batch,
    )
    load_before = os.getloadavg()
    t0 = time.monotonic()
    stop, worker, holder = run_streaming(settings, spark)
    wait_processed(stack, len(trades), timeout_s=600)
    wall = time.monotonic() - t0
    stop.set()
    worker.join(60)
    load_after = os.getloadavg()
    batches = list(holder["p"].history)
    busy = sum(b.duration_s for b in batches)
    rows = sum(b.input_rows for b in batches)
    counted = int(
        query(stack, "SELECT SUM(trade_count) FROM candles WHERE bar_interval='1m'")[0][0]
    )
    assert rows == counted == len(trades)
    done, warmup = 0, 0
    while done < WARMUP_TRADES:
        done += batches[warmup].input_rows
        warmup += 1
    warm = batches[warmup:]
    warm_rows = sum(b.input_rows for b in warm)
    warm_wall = warm[-1].commit_s - batches[warmup - 1].commit_s
    durations = [b.duration_s for b in warm]
    print(
        f"\n[benchmark] backlog of {len(trades):,} trades ({len(SYMBOLS)} symbols, 1s+1m candles), "
        f"local[2], 1 s trigger, maxOffsetsPerTrigger {per_batch:,}; produced in {produce_s:.1f}s; "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    print(
        f"[benchmark] {len(batches)} batches, {busy:.1f}s in foreachBatch, {wall:.1f}s wall "
        f"(incl. query start and JVM warm-up): {rows / busy:,.0f} trades/s in batches, "
        f"{rows / wall:,.0f} trades/s wall"
    )
    print(
        f"[benchmark] sustained after {warmup} warm-up batches ({done:,} trades): {warm_rows:,} "
        f"trades "
        f"in {warm_wall:.1f}s wall = {warm_rows / warm_wall:,.0f} trades/s "
        f"(batch duration p50 {pct(durations, 0.5):.2f}s, max {max(durations):.2f}s)"
    )
    for b in batches:
        print(
            f"[benchmark]   batch {b.batch_id}: {b.input_rows:,} rows {b.duration_s:.2f}s {b.steps}"
        )


def steady_rate(
    stack: StackFixture, spark: SparkSession, tmp_path: Path, rate: int, seconds: int
) -> None:
    """Trades sent at ``rate`` per second for ``seconds`` while the query runs with a 1 s
    trigger: batch duration, end-to-end latency (trade time -> MySQL commit) p50/p99, and the
    backlog after each batch (does the lag grow?)."""
    topic = f"bench.live.{uuid.uuid4().hex[:8]}"
    create_topics(stack, [topic, f"{topic}.dlq"])
    truncate_state(stack)
    settings = processor_settings(
        stack, topic, tmp_path / "ckpt", available_now=False, trigger_interval_s=1.0
    )
    produced: list[tuple[float, int]] = []
    stop, worker, holder = run_streaming(settings, spark)
    time.sleep(15)  # let the query start before the clock runs
    producer = Producer(
        {"bootstrap.servers": stack.settings.bootstrap_servers(), "linger.ms": 5, "acks": "all"}
    )
    next_id = dict.fromkeys(SYMBOLS, 1)
    sent = 0
    load_before = os.getloadavg()
    start = time.monotonic()
    tick = 0.01
    while time.monotonic() - start < seconds:
        target = int((time.monotonic() - start) * rate)
        now_us = time.time_ns() // 1000
        while sent < target:
            sym = SYMBOLS[sent % len(SYMBOLS)]
            value = orjson.dumps(
                {
                    "v": 1,
                    "exchange": "binance",
                    "symbol": sym,
                    "trade_id": next_id[sym],
                    "price": "100.25000000",
                    "quantity": "0.01000000",
                    "trade_time_us": now_us,
                    "event_time_us": now_us,
                    "ingest_time_us": now_us,
                    "is_buyer_maker": sent % 2 == 0,
                }
            )
            try:
                producer.produce(topic, key=sym.encode(), value=value)
            except BufferError:
                producer.poll(0.01)
                continue
            next_id[sym] += 1
            sent += 1
        producer.poll(0)
        produced.append((time.time(), sent))
        time.sleep(tick)
    producer.flush(30)
    load_after = os.getloadavg()
    wait_processed(stack, sent, timeout_s=300)
    stop.set()
    worker.join(60)
    processor = holder["p"]
    batches = list(processor.history)[STARTUP_BATCHES:]
    durations = [b.duration_s for b in batches]
    lat = e2e_latencies(processor, skip_first=STARTUP_BATCHES)
    backlog = []
    processed = 0
    for b in list(processor.history):
        processed += b.input_rows
        at = max((n for t, n in produced if t <= b.commit_s), default=0)
        backlog.append(at - processed)
    third = max(1, len(backlog) // 3)
    print(
        f"\n[benchmark] steady {rate:,} trades/s for {seconds}s ({sent:,} trades sent in "
        f"{produced[-1][0] - produced[0][0]:.1f}s), 1 s trigger; load average "
        f"{load_before[0]:.2f} at the start, {load_after[0]:.2f} at the end"
    )
    print(
        f"[benchmark] batch duration p50 {pct(durations, 0.5):.2f}s "
        f"p99 {pct(durations, 0.99):.2f}s "
        f"(mean {statistics.fmean(durations):.2f}s over {len(durations)} batches)"
    )
    print(
        f"[benchmark] end-to-end latency p50 {weighted_pct(lat, 0.5):.2f}s "
        f"p99 {weighted_pct(lat, 0.99):.2f}s"
    )
    print(
        f"[benchmark] backlog after each batch (trades): max {max(backlog):,}, "
        f"max in the first third {max(backlog[:third]):,}, in the last third "
        f"{max(backlog[-third:]):,}, last {backlog[-1]:,}"
    )
    typical = sorted(batches, key=lambda b: b.duration_s)[len(batches) // 2]
    print(
        f"[benchmark] median batch: {typical.input_rows:,} rows {typical.duration_s:.2f}s "
        f"{typical.steps}"
    )
    counted = int(query(stack, "SELECT COALESCE(SUM(input_rows), 0) FROM processor_batches")[0][0])
    assert counted == sent


def test_latency_at_5000_trades_per_second(
    stack: StackFixture, spark: SparkSession, tmp_path: Path
) -> None:
    steady_rate(stack, spark, tmp_path, rate=5_000, seconds=40)


def test_sustained_50000_trades_per_second(
    stack: StackFixture, spark: SparkSession, tmp_path: Path
) -> None:
    """The issue's target rate, sent live (the sender shares the 2 cores with the query)."""
    steady_rate(stack, spark, tmp_path, rate=50_000, seconds=40)
