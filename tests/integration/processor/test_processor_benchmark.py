"""Benchmarks of the processor on local[2] (print numbers; no timed assertions).

1. Throughput: a backlog of trades, caught up with --available-now style batches, both intervals.
2. Latency at a steady 5,000 trades/s with a 1 s trigger: batch duration and end-to-end latency
   (trade time -> MySQL commit) p50/p99, and whether the backlog stays bounded.
"""

from __future__ import annotations

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
from tests.integration.processor.conftest import (
    StackFixture,
    create_topics,
    processor_settings,
    produce,
    query,
    truncate_state,
)
from tests.integration.processor.dataset import make_trades

pytestmark = [pytest.mark.benchmark, pytest.mark.kafka, pytest.mark.mysql, pytest.mark.spark]

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


def test_throughput_of_a_backlog(stack: StackFixture, spark: SparkSession, tmp_path: Path) -> None:
    per_symbol = 120_000
    topic = f"bench.backlog.{uuid.uuid4().hex[:8]}"
    create_topics(stack, [topic, f"{topic}.dlq"])
    trades = make_trades(SYMBOLS, per_symbol=per_symbol, span_s=3600, seed=31)
    trades.sort(key=lambda t: t.trade_time_us)
    t0 = time.monotonic()
    produce(stack, topic, ((t.symbol.encode(), t.value()) for t in trades))
    produce_s = time.monotonic() - t0
    truncate_state(stack)
    settings = processor_settings(stack, topic, tmp_path / "ckpt", max_offsets_per_trigger=100_000)
    t0 = time.monotonic()
    processor = run(settings, spark=spark)
    wall = time.monotonic() - t0
    batches = list(processor.history)
    busy = sum(b.duration_s for b in batches)
    rows = sum(b.input_rows for b in batches)
    counted = int(
        query(stack, "SELECT SUM(trade_count) FROM candles WHERE bar_interval='1m'")[0][0]
    )
    assert rows == counted == len(trades)
    print(
        f"\n[benchmark] backlog of {len(trades):,} trades ({len(SYMBOLS)} symbols, 1s+1m candles), "
        f"local[2], maxOffsetsPerTrigger 100,000; produced in {produce_s:.1f}s"
    )
    print(
        f"[benchmark] {len(batches)} batches, {busy:.1f}s in foreachBatch, {wall:.1f}s wall "
        f"(incl. query start): {rows / busy:,.0f} trades/s in batches, "
        f"{rows / wall:,.0f} trades/s wall"
    )
    for b in batches:
        print(
            f"[benchmark]   batch {b.batch_id}: {b.input_rows:,} rows {b.duration_s:.2f}s {b.steps}"
        )


def test_latency_at_5000_trades_per_second(
    stack: StackFixture, spark: SparkSession, tmp_path: Path
) -> None:
    rate = 5_000
    seconds = 40
    topic = f"bench.live.{uuid.uuid4().hex[:8]}"
    create_topics(stack, [topic, f"{topic}.dlq"])
    truncate_state(stack)
    settings = processor_settings(
        stack, topic, tmp_path / "ckpt", available_now=False, trigger_interval_s=1.0
    )
    produced: list[tuple[float, int]] = []
    stop = threading.Event()
    holder: dict[str, BatchProcessor] = {}

    def processor_thread() -> None:
        holder["p"] = run(settings, stop=stop, spark=spark)

    worker = threading.Thread(target=processor_thread, daemon=True)
    worker.start()
    time.sleep(15)  # let the query start before the clock runs
    producer = Producer(
        {"bootstrap.servers": stack.settings.bootstrap_servers(), "linger.ms": 5, "acks": "all"}
    )
    next_id = dict.fromkeys(SYMBOLS, 1)
    sent = 0
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
            next_id[sym] += 1
            producer.produce(topic, key=sym.encode(), value=value)
            sent += 1
        producer.poll(0)
        produced.append((time.time(), sent))
        time.sleep(tick)
    producer.flush(30)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = int(query(stack, "SELECT COALESCE(SUM(input_rows), 0) FROM processor_batches")[0][0])
        if done >= sent:
            break
        time.sleep(0.5)
    stop.set()
    worker.join(60)
    processor = holder["p"]
    batches = list(processor.history)[2:]  # skip the start-up batches
    durations = [b.duration_s for b in batches]
    lat = e2e_latencies(processor, skip_first=2)
    backlog = []
    processed = 0
    for b in list(processor.history):
        processed += b.input_rows
        at = max((n for t, n in produced if t <= b.commit_s), default=0)
        backlog.append(at - processed)
    print(f"\n[benchmark] steady {rate:,} trades/s for {seconds}s ({sent:,} trades), 1 s trigger")
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
        f"[benchmark] backlog after each batch (trades): max {max(backlog):,}, last {backlog[-1]:,}"
    )
    typical = sorted(batches, key=lambda b: b.duration_s)[len(batches) // 2]
    print(
        f"[benchmark] median batch: {typical.input_rows:,} rows {typical.duration_s:.2f}s "
        f"{typical.steps}"
    )
    counted = int(query(stack, "SELECT COALESCE(SUM(input_rows), 0) FROM processor_batches")[0][0])
    assert counted == sent
