"""Issue 9: the completeness audit holds up over weeks. It judges each candle window against
the topic's trades of that window, only over what the topic still holds after retention, and
`--watch` reads only the new messages each cycle (real Kafka and MariaDB, candles written as
the processor would: one row per symbol, interval and window)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from cryptopipe.audit.runner import new_state, run_audit
from cryptopipe.audit.settings import AuditSettings
from tests.conftest import RunningStack
from tests.integration.audit import bad_input
from tests.integration.audit.helpers import audit

pytestmark = [pytest.mark.kafka, pytest.mark.mysql]

MINUTE_US = 60_000_000
T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
STEP_US = 600_000  # 100 trades a minute


def new_topic(stack: RunningStack) -> str:
    topic = f"it.auditwin.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": stack.settings.bootstrap_servers()})
    for fut in admin.create_topics([NewTopic(topic, num_partitions=2)]).values():
        fut.result(30)
    return topic


def produce(stack: RunningStack, topic: str, items: list[tuple[str, int, bytes]]) -> None:
    """(symbol, partition, value): keyed by symbol as the producer does, on a fixed partition
    so the test knows which partition a symbol lives in."""
    producer = Producer(
        {"bootstrap.servers": stack.settings.bootstrap_servers(), "enable.idempotence": True}
    )
    for symbol, pid, value in items:
        producer.produce(topic, key=symbol.encode(), value=value, partition=pid)
    assert producer.flush(30) == 0


def delete_records(stack: RunningStack, topic: str, before: int) -> None:
    """Move partition 0's low watermark to ``before``, as retention deleting segments does."""
    admin = AdminClient({"bootstrap.servers": stack.settings.bootstrap_servers()})
    for fut in admin.delete_records([TopicPartition(topic, 0, before)]).values():
        fut.result(30)


def trades(symbol: str, first_id: int, n: int, t0: int = T0) -> list[tuple[int, int]]:
    return [(first_id + i, t0 + i * STEP_US) for i in range(n)]


def write_candles(stack: RunningStack, symbol: str, items: list[tuple[int, int]]) -> None:
    """The 1m candles of these (trade id, trade time) as the processor writes them."""
    windows: dict[int, list[int]] = defaultdict(list)
    for trade_id, time_us in items:
        windows[time_us // MINUTE_US * MINUTE_US].append(trade_id)
    rows = [
        (symbol, s // 10**6, (s + MINUTE_US) // 10**6, len(ids), min(ids), max(ids), s, s)
        for s, ids in windows.items()
    ]
    conn = stack.app_connection()
    try:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO candles (symbol, bar_interval, window_start, window_end, open, high,"
                " low, close, volume, quote_volume, trade_count, taker_buy_volume,"
                " first_trade_id, last_trade_id, open_trade_time_us, close_trade_time_us)"
                " VALUES (%s, '1m', FROM_UNIXTIME(%s), FROM_UNIXTIME(%s), 1, 1, 1, 1, 1, 1, %s,"
                " 0, %s, %s, %s, %s)",
                rows,
            )
        conn.commit()
    finally:
        conn.close()


def execute(stack: RunningStack, sql: str, args: Any) -> None:
    conn = stack.app_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
        conn.commit()
    finally:
        conn.close()


def shift_count(stack: RunningStack, symbol: str, window_us: int, delta: int) -> None:
    execute(
        stack,
        "UPDATE candles SET trade_count = trade_count + %s WHERE symbol = %s"
        " AND bar_interval = '1m' AND window_start = FROM_UNIXTIME(%s)",
        (delta, symbol, window_us // 10**6),
    )


def cli_audit(stack: RunningStack, topic: str, symbols: str) -> tuple[int, dict[str, Any]]:
    return audit(stack, topic, "--symbols", symbols, "--intervals", "1m")


def two_symbols(stack: RunningStack) -> tuple[str, str, str]:
    """A topic with trades of two symbols, 12 minutes of one on partition 0 and 6 of the other
    on partition 1, and their 1m candles; returns the topic and the symbols."""
    tag = uuid.uuid4().hex[:6].upper()
    a, b = f"WA{tag}USDT", f"WB{tag}USDT"
    topic = new_topic(stack)
    ta, tb = trades(a, 1, 1200), trades(b, 5001, 600, T0 + 300_000)
    produce(stack, topic, [(a, 0, bad_input.good(a, i, t)) for i, t in ta])
    produce(stack, topic, [(b, 1, bad_input.good(b, i, t)) for i, t in tb])
    write_candles(stack, a, ta)
    write_candles(stack, b, tb)
    return topic, a, b


def test_after_retention_only_what_the_topic_still_holds_is_judged(stack: RunningStack) -> None:
    topic, a, b = two_symbols(stack)
    # retention deletes the oldest 450 messages of a's partition (deterministic: DeleteRecords);
    # MySQL keeps every candle, as it does for weeks after the topic's 7 days
    delete_records(stack, topic, 450)

    code, report = cli_audit(stack, topic, f"{a},{b}")
    rows = {r["symbol"]: r for r in report["results"]}
    assert code == 0, [r["problems"] for r in report["results"]]
    # a's first trade still there is at 4m30s; with the processor's 10 s lateness the judged
    # windows start at 5m: the 7 whole minutes 5..11; b lost nothing, all 6 are judged
    assert (rows[a]["windows_judged"], rows[a]["topic_distinct"]) == (7, 700)
    assert (rows[b]["windows_judged"], rows[b]["topic_distinct"]) == (6, 600)
    assert rows[a]["double_counted"] == rows[a]["missing"] == 0
    assert report["topic_messages"] == 750 + 600

    # and what is judged is still judged: a window of a after the cut-off loses a trade
    shift_count(stack, a, T0 + 6 * MINUTE_US, -1)
    code, report = cli_audit(stack, topic, a)
    assert code == 1
    assert report["results"][0]["wrong_windows"] == ["2026-01-01T00:06:00Z: 1 missing"]


def test_plus_one_in_one_window_and_minus_one_in_another_both_fail(stack: RunningStack) -> None:
    topic, a, b = two_symbols(stack)
    shift_count(stack, a, T0 + 2 * MINUTE_US, +1)
    shift_count(stack, a, T0 + 9 * MINUTE_US, -1)

    code, report = cli_audit(stack, topic, f"{a},{b}")
    assert code == 1
    rows = {r["symbol"]: r for r in report["results"]}
    # the sums agree (1200 == 1200): only a per-window compare sees these
    assert rows[a]["topic_distinct"] == rows[a]["candle_trades"] == 1200
    assert (rows[a]["double_counted"], rows[a]["missing"], rows[a]["windows_wrong"]) == (1, 1, 2)
    assert rows[a]["wrong_windows"] == [
        "2026-01-01T00:02:00Z: 1 double counted",
        "2026-01-01T00:09:00Z: 1 missing",
    ]
    assert "2 wrong windows" in " ".join(rows[a]["problems"])
    assert rows[b]["ok"]


def test_watch_reads_only_new_messages_and_rejudges_changed_windows(stack: RunningStack) -> None:
    topic, a, b = two_symbols(stack)
    settings = AuditSettings(
        **{**stack.common_kwargs(), "topic_trades": topic, "topic_dlq": f"{topic}.d"},
        audit_symbols=f"{a},{b}",
        intervals="1m",
    )
    state = new_state(settings)
    first = run_audit(settings, state)
    assert first.ok, [r.problems() for r in first.results]
    assert first.scanned == 1800

    # two more minutes of a, a malformed message the processor recorded, and their candles
    more = trades(a, 1201, 200, T0 + 12 * MINUTE_US)
    produce(stack, topic, [(a, 0, bad_input.good(a, i, t)) for i, t in more])
    produce(stack, topic, [(a, 0, b"not json")])
    write_candles(stack, a, more)
    # and a trade of the already judged 3rd minute, late: in late_trades, not in its candle
    late_time = T0 + 3 * MINUTE_US + 5
    produce(stack, topic, [(a, 0, bad_input.good(a, 1401, late_time))])
    execute(
        stack,
        "INSERT INTO late_trades (symbol, trade_id, price, quantity, trade_time_us,"
        " is_buyer_maker, watermark_us, topic, kafka_partition, kafka_offset)"
        " VALUES (%s, 1401, 1, 1, %s, 0, %s, %s, 0, 1401)",
        (a, late_time, late_time + MINUTE_US, topic),
    )
    for offset, reason in ((1400, "not_json"), (7, "not_json")):
        execute(
            stack,
            "INSERT INTO rejected_trades (topic, kafka_partition, kafka_offset, reason, detail)"
            " VALUES (%s, 0, %s, %s, '')",
            (topic, offset, reason),
        )
    second = run_audit(settings, state)
    assert second.scanned == 202, "the second cycle reads only what is new"
    rows = {r.symbol: r for r in second.results}
    assert (rows[a].windows_judged, rows[a].topic_distinct, rows[a].late_trades) == (14, 1401, 1)
    assert rows[a].ok and rows[b].ok
    # offset 7 (a valid trade read by the first cycle) is recorded as rejected: looked up again
    assert (second.rejections.unexpected, second.rejections.unrecorded) == (1, 0)
    assert not second.ok

    # an already judged, settled window changed in MySQL is judged again
    execute(stack, "DELETE FROM rejected_trades WHERE topic = %s AND kafka_offset = 7", (topic,))
    shift_count(stack, a, T0 + 3 * MINUTE_US, +1)
    third = run_audit(settings, state)
    assert third.scanned == 0
    rows = {r.symbol: r for r in third.results}
    assert rows[a].wrong_windows == ["2026-01-01T00:03:00Z: 1 double counted"]
    assert rows[a].double_counted == 1 and rows[b].ok
    assert third.rejections.ok
    # the gauges the completeness alerts read still add up over every window
    assert (rows[a].windows_judged, rows[a].topic_distinct) == (14, 1401)

    # a deleted row leaves no updated_at behind: the per-symbol row count and sum catch it
    execute(
        stack,
        "DELETE FROM candles WHERE symbol = %s AND bar_interval = '1m'"
        " AND window_start = FROM_UNIXTIME(%s)",
        (b, (T0 + MINUTE_US) // 10**6),
    )
    fourth = run_audit(settings, state)
    rows = {r.symbol: r for r in fourth.results}
    assert fourth.scanned == 0
    assert rows[b].wrong_windows == ["2026-01-01T00:01:00Z: 100 missing"]
    assert rows[a].double_counted == 1, "the wrong window of a is still reported"

    # retention reaches messages this state has read: their windows are dropped, exactly
    delete_records(stack, topic, 450)  # minute 4 of a starts at offset 400
    fifth = run_audit(settings, state)
    rows = {r.symbol: r for r in fifth.results}
    assert (fifth.scanned, rows[a].windows_judged, rows[a].topic_distinct) == (0, 9, 900)
    assert rows[a].ok, "the wrong 3rd minute is no longer on the topic: not judged"
    assert not rows[b].ok
