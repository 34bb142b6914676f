"""Issue 17 item 2, end to end: bad input interleaved with valid trades, through Kafka, the
Spark processor and MariaDB, ends in a complete audit; a deleted candle still fails it.

Before the audit applied the processor's rules, this mix read as "N missing in MySQL"."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from cryptopipe.processor.job import run
from cryptopipe.trade_rules import DEFAULT_MAX_MESSAGE_BYTES
from tests.integration.audit import bad_input
from tests.integration.audit.helpers import VALID, audit, spark_reasons
from tests.integration.processor.conftest import (
    StackFixture,
    create_topics,
    processor_settings,
    produce,
    query,
    truncate_state,
)
from tests.integration.processor.dataset import make_trades, send_order

pytestmark = [pytest.mark.kafka, pytest.mark.mysql, pytest.mark.spark]

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
MAX_BYTES = DEFAULT_MAX_MESSAGE_BYTES


def bad_messages(
    spark: SparkSession, rng: random.Random
) -> list[tuple[bytes | None, bytes | None]]:
    """The issue's mix for each symbol (what of it is valid repeats a real trade's id), then
    random damage until 200 messages are rejected (damage that leaves a valid trade is left
    out); mostly keyed by a symbol as the producer would, some with no key or a junk one."""
    values: list[bytes | None] = []
    for sym in SYMBOLS:
        values += bad_input.issue_mix(sym, trade_id=1000)
    n_rejected = sum(r != VALID for r in spark_reasons(spark, values, MAX_BYTES, []))
    damaged: list[bytes | None] = list(bad_input.random_variants(400, seed=7))
    reasons = spark_reasons(spark, damaged, MAX_BYTES, [])
    values += [v for v, r in zip(damaged, reasons, strict=True) if r != VALID][: 200 - n_rejected]
    keys: list[bytes | None] = [*(s.encode() for s in SYMBOLS), None, b"\xff" * 41]
    return [(rng.choice(keys), v) for v in values]


def test_bad_input_ends_in_a_complete_audit_and_a_deleted_candle_fails_it(
    stack: StackFixture, spark: SparkSession, tmp_path: Path
) -> None:
    topic = f"it.audit.{uuid.uuid4().hex[:8]}"
    create_topics(stack, [topic, f"{topic}.dlq"])
    truncate_state(stack)
    rng = random.Random(17)
    trades = make_trades(SYMBOLS, per_symbol=1500, span_s=240, seed=21)
    good = [(t.symbol.encode(), t.value()) for t in send_order(trades, seed=3)]
    bad = bad_messages(spark, rng)
    n_rejected = sum(r != VALID for r in spark_reasons(spark, [v for _, v in bad], MAX_BYTES, []))
    assert n_rejected == 200
    mixed: list[tuple[bytes | None, bytes | None]] = list(good)
    for item in bad:  # interleaved at random places
        mixed.insert(rng.randrange(len(mixed) + 1), item)
    produce(stack, topic, mixed)

    run(
        processor_settings(stack, topic, tmp_path / "ckpt", max_offsets_per_trigger=1000),
        spark=spark,
    )

    recorded = Counter(
        r for (r,) in query(stack, "SELECT reason FROM rejected_trades WHERE topic = %s", (topic,))
    )
    code, report = audit(stack, topic)
    assert code == 0, report["rejected"]["problems"] or [r["problems"] for r in report["results"]]
    rej = report["rejected"]
    by_reason: Counter[str] = Counter()
    for reasons in rej["by_symbol"].values():
        by_reason.update(reasons)
    assert by_reason == recorded and sum(recorded.values()) == n_rejected
    assert rej["unknown_symbol"] > 0 and set(rej["by_symbol"]) >= set(SYMBOLS)
    assert (rej["not_recorded_by_processor"], rej["recorded_but_valid"], rej["reason_differs"]) == (
        0,
        0,
        0,
    )
    # and each is on the DLQ topic (the oversized ones as an excerpt), pointing back at it
    assert (rej["in_dlq"], rej["not_in_dlq"]) == (n_rejected, 0)
    # every message on the topic: a trade counted in candles (or late), or rejected
    assert report["topic_messages"] == len(mixed)
    rows = {(r["symbol"], r["interval"]): r for r in report["results"]}
    for sym in SYMBOLS:
        for interval in ("1s", "1m"):
            r = rows[(sym, interval)]
            assert (r["topic_distinct"], r["missing"], r["double_counted"]) == (1500, 0, 0), r
            assert r["rejected_messages"] == sum(rej["by_symbol"][sym].values())
    assert report["topic_rejected"] + sum(
        rows[(s, "1m")]["topic_messages"] for s in SYMBOLS
    ) == len(mixed)

    # a really lost candle still fails the audit
    (start, count), *_ = query(
        stack,
        "SELECT window_start, trade_count FROM candles WHERE symbol = 'BTCUSDT'"
        " AND bar_interval = '1m' ORDER BY window_start LIMIT 1",
    )
    conn = stack.app_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "DELETE FROM candles WHERE symbol = 'BTCUSDT' AND bar_interval = '1m'"
                " AND window_start = %s",
                (start,),
            )
            # and a rejection the processor did not record is flagged, not hidden
            cur.execute(
                "DELETE FROM rejected_trades WHERE topic = %s AND reason = 'wrong_type' LIMIT 1",
                (topic,),
            )
        conn.commit()
    finally:
        conn.close()
    code, report = audit(stack, topic)
    assert code == 1
    rows = {(r["symbol"], r["interval"]): r for r in report["results"]}
    assert rows[("BTCUSDT", "1m")]["missing"] == int(count)
    assert f"{int(count)} missing in MySQL" in rows[("BTCUSDT", "1m")]["problems"]
    assert rows[("BTCUSDT", "1s")]["ok"] and rows[("ETHUSDT", "1m")]["ok"]
    assert report["rejected"]["not_recorded_by_processor"] == 1
    assert report["rejected"]["mismatches"][0]["rules"] == "wrong_type"
