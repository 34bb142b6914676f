"""`kill -9` of a running `cryptopipe process` mid-stream, restart, catch up: same rows."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from cryptopipe.processor.job import run
from tests.integration.processor.conftest import (
    StackFixture,
    candles_in_db,
    create_topics,
    normalized,
    processor_settings,
    produce,
    query,
    truncate_state,
)
from tests.integration.processor.dataset import T, expected_candles, make_trades, send_order
from tests.integration.processor.helpers import (
    committed_batches,
    scrape,
    start_processor,
    wait_processed,
)

pytestmark = [pytest.mark.kafka, pytest.mark.mysql, pytest.mark.spark, pytest.mark.e2e]

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT"]
PER_SYMBOL = 4000


def snapshot(stack: StackFixture) -> tuple[dict[Any, Any], list[tuple[Any, ...]]]:
    late = query(stack, "SELECT symbol, trade_id, price, quantity, trade_time_us FROM late_trades")
    return candles_in_db(stack), sorted(late)


def test_kill_9_mid_stream_then_restart_gives_the_uninterrupted_rows(
    stack: StackFixture, spark: SparkSession, tmp_path: Path
) -> None:
    topic = f"it.restart.{uuid.uuid4().hex[:8]}"
    create_topics(stack, [topic, f"{topic}.dlq"])
    trades = make_trades(SYMBOLS, per_symbol=PER_SYMBOL, span_s=600, seed=21)
    order = send_order(trades, seed=22)
    # some redeliveries and some trades beyond the watermark, spread through the stream
    newest = max(t.trade_time_us for t in trades)
    late = [
        T(SYMBOLS[i % 3], 90_000 + i, "1.00000000", "2.00000000", trades[0].trade_time_us + i, True)
        for i in range(5)
    ]
    messages = [(t.symbol.encode(), t.value()) for t in order]
    for i, t in enumerate(late):
        messages.insert(len(messages) // 2 + i * 997, (t.symbol.encode(), t.value()))
    for t in order[:300:3]:
        messages.insert(len(messages) * 3 // 4, (t.symbol.encode(), t.value()))
    produce(stack, topic, messages)
    assert newest > trades[0].trade_time_us + 60_000_000  # the late ones really are late

    # 1) uninterrupted run, in a different batch split (one batch per 7,000 records)
    truncate_state(stack)
    run(
        processor_settings(stack, topic, tmp_path / "ckpt-a", max_offsets_per_trigger=7000),
        spark=spark,
    )
    uninterrupted = snapshot(stack)
    want = normalized(expected_candles(trades))
    assert uninterrupted[0] == want
    assert len(uninterrupted[1]) == len(late)

    # 2) a real `cryptopipe process`, killed with SIGKILL after a few committed batches
    truncate_state(stack)
    log = tmp_path / "process.log"
    proc = start_processor(stack, topic, tmp_path / "ckpt-b", log)
    try:
        deadline = time.monotonic() + 240
        while committed_batches(stack) < 3:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        metrics = scrape(stack.settings.processor_metrics_port)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    for name in (
        "cryptopipe_processor_accepted_rows_total",
        'cryptopipe_processor_freshness_seconds{symbol="BTCUSDT"}',
        'cryptopipe_processor_rows_upserted_total{interval="1m"}',
        "cryptopipe_processor_end_to_end_latency_seconds_count",
        "cryptopipe_processor_sink_write_seconds_count",
    ):
        assert name in metrics, name
    accepted_before = int(query(stack, "SELECT SUM(accepted_rows) FROM processor_batches")[0][0])
    assert 0 < accepted_before < len(trades), "the kill must land mid-stream"

    # 3) restart from the checkpoint (streaming, as a service would), catch up, then SIGTERM
    restarted = start_processor(stack, topic, tmp_path / "ckpt-b", log)
    try:
        wait_processed(stack, restarted, len(messages), log, 300)
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(120) == 0, log.read_text()[-3000:]  # a clean stop
    finally:
        if restarted.poll() is None:
            os.killpg(restarted.pid, signal.SIGKILL)

    assert snapshot(stack) == uninterrupted
    per_interval = dict(
        query(stack, "SELECT bar_interval, SUM(trade_count) FROM candles GROUP BY 1")
    )
    assert {k: int(v) for k, v in per_interval.items()} == {"1s": len(trades), "1m": len(trades)}
