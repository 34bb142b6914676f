"""`cryptopipe audit` against the real topic and MariaDB."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import pytest
from confluent_kafka import Producer

from tests.conftest import RunningStack
from tests.integration.audit import bad_input

pytestmark = [pytest.mark.kafka, pytest.mark.mysql]

MINUTE_US = 60_000_000
T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z


def trade(symbol: str, trade_id: int, time_us: int) -> bytes:
    return bad_input.good(symbol, trade_id, time_us)


def produce(stack: RunningStack, symbol: str, items: list[tuple[int, int]]) -> None:
    producer = Producer(
        {"bootstrap.servers": stack.settings.bootstrap_servers(), "enable.idempotence": True}
    )
    for trade_id, time_us in items:
        producer.produce(
            stack.settings.topic_trades, key=symbol.encode(), value=trade(symbol, trade_id, time_us)
        )
    assert producer.flush(30) == 0


def insert_candle(
    stack: RunningStack, symbol: str, start_us: int, count: int, first: int, last: int
) -> None:
    conn = stack.app_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO candles (symbol, bar_interval, window_start, window_end, open, high,"
                " low, close, volume, quote_volume, trade_count, taker_buy_volume,"
                " first_trade_id, last_trade_id, open_trade_time_us, close_trade_time_us)"
                " VALUES (%s, '1m', FROM_UNIXTIME(%s), FROM_UNIXTIME(%s), 1, 1, 1, 1, 1, 1, %s,"
                " 0, %s, %s, %s, %s)",
                (
                    symbol,
                    start_us // 1_000_000,
                    (start_us + MINUTE_US) // 1_000_000,
                    count,
                    first,
                    last,
                    start_us,
                    start_us,
                ),
            )
        conn.commit()
    finally:
        conn.close()


def audit(stack: RunningStack, symbol: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cryptopipe.cli",
            "audit",
            "--symbols",
            symbol,
            "--intervals",
            "1m",
            "--json",
        ],
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_audit_passes_only_when_every_trade_is_counted_once(stack: RunningStack) -> None:
    symbol = f"AUD{uuid.uuid4().hex[:6].upper()}USDT"
    # 30 trades in the first minute, 20 in the second; trade 10 delivered twice
    items = [(i, T0 + i * 1_000_000) for i in range(1, 31)]
    items += [(i, T0 + MINUTE_US + i * 1_000) for i in range(31, 51)]
    produce(stack, symbol, [*items, (10, T0 + 10_000_000)])
    insert_candle(stack, symbol, T0, 30, 1, 30)
    insert_candle(stack, symbol, T0 + MINUTE_US, 20, 31, 50)

    code, report = audit(stack, symbol)
    assert code == 0, report
    (row,) = report["results"]
    assert (row["topic_messages"], row["topic_duplicates"], row["topic_distinct"]) == (51, 1, 50)
    assert (row["candle_trades"], row["missing"], row["double_counted"]) == (50, 0, 0)

    conn = stack.app_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "UPDATE candles SET trade_count = trade_count + 1 WHERE symbol = %s"
                " AND window_start = FROM_UNIXTIME(%s)",
                (symbol, T0 // 1_000_000),
            )
        conn.commit()
    finally:
        conn.close()
    code, report = audit(stack, symbol)
    assert code == 1
    assert report["results"][0]["double_counted"] == 1
    assert "1 double counted" in report["results"][0]["problems"]


def test_audit_reports_gaps_on_the_topic(stack: RunningStack) -> None:
    symbol = f"GAP{uuid.uuid4().hex[:6].upper()}USDT"
    produce(stack, symbol, [(i, T0 + i) for i in (1, 2, 3, 6, 7)])
    insert_candle(stack, symbol, T0, 5, 1, 7)
    code, report = audit(stack, symbol)
    assert code == 1
    assert report["results"][0]["topic_missing_ids"] == 2
    assert report["results"][0]["missing"] == 0, "what is on the topic is all counted"


def test_audit_table_output_is_readable(stack: RunningStack) -> None:
    symbol = f"TAB{uuid.uuid4().hex[:6].upper()}USDT"
    produce(stack, symbol, [(1, T0), (2, T0 + 1)])
    proc = subprocess.run(
        [sys.executable, "-m", "cryptopipe.cli", "audit", "--symbols", symbol, "--intervals", "1m"],
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert "2 missing in MySQL" in proc.stdout
    assert "PROBLEMS FOUND" in proc.stdout
