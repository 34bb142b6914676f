"""A 60 s freeze of MariaDB (SIGSTOP of this test stack's own mariadbd, then SIGCONT) under a
running `cryptopipe process`: the stall shows in /metrics while it lasts, and afterwards every
trade is in the candles exactly once."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.processor.conftest import (
    StackFixture,
    candles_in_db,
    create_topics,
    normalized,
    produce,
    query,
    truncate_state,
)
from tests.integration.processor.dataset import expected_candles, make_trades, send_order
from tests.integration.processor.helpers import (
    mariadb_pid,
    scrape,
    start_processor,
    wait_processed,
)

pytestmark = [pytest.mark.kafka, pytest.mark.mysql, pytest.mark.spark, pytest.mark.e2e]

FREEZE_S = 60.0
TIMEOUT_S = 5  # the processor's MySQL connect/read/write timeouts in this test


def stall_metrics(port: int) -> dict[str, float]:
    """Sums of the sink's stall metrics (over their labels); empty if the scrape fails."""
    try:
        text = scrape(port)
    except OSError:
        return {}
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name.startswith("cryptopipe_processor_sink_") and not s.name.endswith("_created"):
                key = s.name
                if s.name == "cryptopipe_processor_sink_retries_total":
                    key += f"{{reason={s.labels['reason']}}}"
                out[key] = out.get(key, 0.0) + s.value
    return out


def test_a_60s_mariadb_freeze_is_a_visible_stall_and_every_trade_counts_once(
    stack: StackFixture, tmp_path: Path
) -> None:
    topic = f"it.freeze.{uuid.uuid4().hex[:8]}"
    create_topics(stack, [topic, f"{topic}.dlq"])
    truncate_state(stack)
    trades = make_trades(["BTCUSDT", "ETHUSDT", "BNBUSDT"], per_symbol=3000, span_s=900, seed=61)
    messages = [(t.symbol.encode(), t.value()) for t in send_order(trades, seed=62)]
    third = len(messages) // 3
    before, during, after = messages[:third], messages[third : 2 * third], messages[2 * third :]
    port = stack.settings.processor_metrics_port
    pid = mariadb_pid(stack)
    log = tmp_path / "process.log"

    produce(stack, topic, before)
    proc = start_processor(
        stack,
        topic,
        tmp_path / "ckpt",
        log,
        env_extra={
            "CRYPTOPIPE_MYSQL_CONNECT_TIMEOUT_S": str(TIMEOUT_S),
            "CRYPTOPIPE_MYSQL_READ_TIMEOUT_S": str(TIMEOUT_S),
            "CRYPTOPIPE_MYSQL_WRITE_TIMEOUT_S": str(TIMEOUT_S),
        },
    )
    seen: list[dict[str, float]] = []
    try:
        wait_processed(stack, proc, len(before), log, 240)

        # freeze with new trades arriving: the next batch's MySQL calls hang
        produce(stack, topic, during)
        os.kill(pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            late_producer = threading.Timer(FREEZE_S / 2, produce, (stack, topic, after))
            late_producer.start()
            while time.monotonic() - frozen_at < FREEZE_S:
                assert proc.poll() is None, log.read_text()[-3000:]
                seen.append(stall_metrics(port))
                time.sleep(2)
        finally:
            os.kill(pid, signal.SIGCONT)
        late_producer.join(60)

        wait_processed(stack, proc, len(messages), log, 300)
        final = stall_metrics(port)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(120) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)

    # every trade exactly once
    assert candles_in_db(stack) == normalized(expected_candles(trades))
    per_interval = dict(
        query(stack, "SELECT bar_interval, SUM(trade_count) FROM candles GROUP BY 1")
    )
    assert {k: int(v) for k, v in per_interval.items()} == {"1s": len(trades), "1m": len(trades)}
    accepted = query(stack, "SELECT SUM(accepted_rows) FROM processor_batches")[0][0]
    assert int(accepted) == len(trades)

    # the stall was visible while the server was frozen: counted, and its age growing well
    # past one read timeout (a hang would have shown nothing)
    pending = max(s.get("cryptopipe_processor_sink_pending_seconds", 0.0) for s in seen)
    stalls_while_frozen = max(s.get("cryptopipe_processor_sink_stalls_total", 0.0) for s in seen)
    assert pending >= FREEZE_S / 2, seen
    assert stalls_while_frozen >= 1, seen
    assert final.get("cryptopipe_processor_sink_retries_total{reason=timeout}", 0.0) >= 3, final
    assert final.get("cryptopipe_processor_sink_failures_total", 0.0) == 0, final
    text = log.read_text()
    assert "stalled (timeout" in text and "recovered after" in text
    print(  # figures for the report
        f"freeze {FREEZE_S:.0f}s: max pending {pending:.1f}s, "
        f"stalls {final.get('cryptopipe_processor_sink_stalls_total')}, "
        f"timeout retries {final.get('cryptopipe_processor_sink_retries_total{reason=timeout}')}"
    )
