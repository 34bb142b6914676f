"""The processor against real Kafka, Spark (local mode) and MariaDB, sharing one SparkSession.

The tests of this module build on each other (one topic, one checkpoint) to pay for the Spark
start-up once: the first checks exact candles, the second adds duplicates, late trades and
poison to the same stream.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pyspark.sql import SparkSession

from cryptopipe.dlq import parse_headers
from cryptopipe.idranges import compact
from cryptopipe.observability import tracing
from cryptopipe.processor.job import run
from cryptopipe.processor.settings import DEFAULT_EXCERPT_BYTES
from cryptopipe.processor.transform import MAX_INLINE_RANGES, BatchTransform
from tests.integration.processor.conftest import (
    StackFixture,
    candles_in_db,
    create_topics,
    normalized,
    processor_settings,
    produce,
    query,
    read_all,
    truncate_state,
)
from tests.integration.processor.dataset import (
    T,
    expected_candles,
    make_trades,
    send_order,
)

pytestmark = [pytest.mark.kafka, pytest.mark.mysql, pytest.mark.spark]

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]


class Story:
    """State shared by the tests of this module (same topic, same checkpoint)."""

    topic = f"it.trades.{uuid.uuid4().hex[:8]}"
    counted: list[T] = []
    late: list[T] = []
    checkpoint: Path | None = None


@pytest.fixture(scope="module")
def story(stack: StackFixture, tmp_path_factory: pytest.TempPathFactory) -> type[Story]:
    create_topics(stack, [Story.topic, f"{Story.topic}.dlq"])
    Story.checkpoint = tmp_path_factory.mktemp("ckpt") / "q"
    truncate_state(stack)
    return Story


def run_once(stack: StackFixture, spark: SparkSession, story: type[Story], **kw: Any) -> None:
    assert story.checkpoint is not None
    settings = processor_settings(
        stack,
        story.topic,
        story.checkpoint,
        max_offsets_per_trigger=700,
        max_message_bytes=4096,
        **kw,
    )
    run(settings, spark=spark)


def test_known_trades_give_exactly_the_decimal_candles(
    stack: StackFixture, spark: SparkSession, story: type[Story]
) -> None:
    trades = make_trades(SYMBOLS, per_symbol=600, span_s=150, seed=11)
    produce(
        stack, story.topic, [(t.symbol.encode(), t.value()) for t in send_order(trades, seed=5)]
    )
    story.counted = list(trades)

    run_once(stack, spark, story)

    got = candles_in_db(stack)
    want = normalized(expected_candles(trades))
    assert {k for k in got if k[1] == "1m"} == {k for k in want if k[1] == "1m"}
    assert got.keys() == want.keys()
    mismatches = [(k, got[k], want[k]) for k in want if got[k] != want[k]]
    assert not mismatches, mismatches[:3]
    per_interval = dict(
        query(stack, "SELECT bar_interval, SUM(trade_count) FROM candles GROUP BY 1")
    )
    assert {k: int(v) for k, v in per_interval.items()} == {"1s": len(trades), "1m": len(trades)}
    batches = query(
        stack, "SELECT COUNT(*), SUM(accepted_rows), SUM(late_rows) FROM processor_batches"
    )
    count, accepted, late = batches[0]
    assert count >= 3  # 2,400 messages at 700 per trigger: several batches merged into the rows
    assert (int(accepted), int(late)) == (len(trades), 0)


def test_duplicates_late_trades_and_poison_end_where_the_contract_says(
    stack: StackFixture, spark: SparkSession, story: type[Story]
) -> None:
    assert story.counted, "needs the first test's stream"
    last = max(t.trade_time_us for t in story.counted)
    fresh = make_trades(SYMBOLS, per_symbol=100, span_s=20, seed=12, start_us=last + 1_000_000)
    # continue the id sequences after the first test's trades
    fresh = [
        T(t.symbol, t.trade_id + 600, t.price, t.quantity, t.trade_time_us, t.is_buyer_maker)
        for t in fresh
    ]
    newest = max(t.trade_time_us for t in fresh if t.symbol == "BTCUSDT")
    late = [
        T("BTCUSDT", 5000 + i, "100.00000000", "1.00000000", newest - 60_000_000 - i, False)
        for i in range(3)
    ]
    redelivered = story.counted[:40] + fresh[:10]  # old and in-batch duplicates
    poison: list[tuple[bytes | None, bytes]] = [
        (b"BTCUSDT", b"{not json"),
        (b"BTCUSDT", orjson.dumps({"v": 1, "symbol": "BTCUSDT"})),
        (b"BTCUSDT", fresh[0].value().replace(b'"trade_id":', b'"trade_id":"x","_":')),
        (b"BTCUSDT", fresh[0].value().replace(fresh[0].price.encode(), b"-5")),
        (b"BTCUSDT", fresh[0].value().replace(b'"v":1', b'"v":9')),
        (b"BTCUSDT", b"{" + b" " * 5000 + b"}"),
        # each a valid DECIMAL(20,8), but their product overflows DECIMAL(38,16)
        (
            b"BTCUSDT",
            fresh[1]
            .value()
            .replace(f'"price":"{fresh[1].price}"'.encode(), b'"price":"999999999999.99999999"')
            .replace(f'"quantity":"{fresh[1].quantity}"'.encode(), b'"quantity":"999999999999"'),
        ),
    ]
    messages: list[tuple[bytes | None, bytes]] = [
        (t.symbol.encode(), t.value()) for t in send_order(fresh, seed=3)
    ]
    messages += [(t.symbol.encode(), t.value()) for t in redelivered]
    messages += [(t.symbol.encode(), t.value()) for t in late]
    messages += poison
    produce(stack, story.topic, messages)
    story.late = late

    run_once(stack, spark, story)

    counted = story.counted + fresh
    got = candles_in_db(stack)
    want = normalized(expected_candles(counted))
    assert got == want  # duplicates counted once, late trades not in candles
    late_rows = query(
        stack,
        "SELECT symbol, trade_id, trade_time_us, watermark_us FROM late_trades ORDER BY trade_id",
    )
    assert [(s, int(i)) for s, i, _, _ in late_rows] == [("BTCUSDT", t.trade_id) for t in late]
    # the watermark is the newest trade time of the partition so far minus 10 s
    assert all(int(w) >= newest - 10_000_000 > int(t) for _, _, t, w in late_rows)
    reasons = Counter(r for (r,) in query(stack, "SELECT reason FROM rejected_trades"))
    assert reasons == Counter(
        {
            "not_json": 1,
            "missing_field": 1,
            "wrong_type": 1,
            "non_positive": 1,
            "schema_version": 1,
            "oversized": 1,
            "out_of_range": 1,
        }
    )
    dlq = read_all(stack, f"{story.topic}.dlq")
    headers = [parse_headers(m.headers()) for m in dlq]
    assert Counter(h["dlq.reason"] for h in headers) == reasons
    # raw bytes, untouched; of the oversized one only an excerpt (its first bytes)
    assert {m.value() for m in dlq} == {
        v if len(v) <= 4096 else v[:DEFAULT_EXCERPT_BYTES] for _, v in poison
    }
    assert all(h["dlq.source"] == "processor" for h in headers)
    sums = query(
        stack,
        "SELECT SUM(duplicate_rows), SUM(late_rows), SUM(rejected_rows) FROM processor_batches",
    )[0]
    assert tuple(int(x) for x in sums) == (len(redelivered), len(late), len(poison))


def test_a_late_trade_delivered_again_later_is_a_duplicate_and_leaves_no_hole(
    stack: StackFixture, spark: SparkSession, story: type[Story]
) -> None:
    assert story.late, "needs the previous test's late trades"
    late_sql = "SELECT symbol, trade_id, kafka_offset, watermark_us FROM late_trades ORDER BY 2"
    late_before = query(stack, late_sql)
    candles_before = candles_in_db(stack)
    produce(stack, story.topic, [(t.symbol.encode(), t.value()) for t in story.late])

    run_once(stack, spark, story)

    last = query(
        stack,
        "SELECT input_rows, duplicate_rows, late_rows FROM processor_batches "
        "ORDER BY committed_at DESC, batch_id DESC LIMIT 1",
    )[0]
    assert tuple(int(x) for x in last) == (len(story.late), len(story.late), 0)
    # counted once, as late: the first record stays, the candles do not move
    assert query(stack, late_sql) == late_before
    assert candles_in_db(stack) == candles_before
    # the late ids joined the decided ranges: no hole per late trade
    ids = sorted(t.trade_id for t in story.late)
    ranges = query(
        stack,
        "SELECT lo, hi FROM processor_trade_id_ranges WHERE symbol = 'BTCUSDT' ORDER BY lo",
    )
    assert (ids[0], ids[-1]) in [(int(lo), int(hi)) for lo, hi in ranges]


def test_stored_ranges_give_the_same_statuses_inline_or_by_join(spark: SparkSession) -> None:
    """Up to MAX_INLINE_RANGES stored id ranges are one SQL expression, more use a broadcast
    join; both must classify alike (duplicates: ids already counted)."""
    trades = make_trades(["BTCUSDT", "ETHUSDT"], per_symbol=50, span_s=5, seed=4)
    rows = [("t", 0, i, t.value(), None) for i, t in enumerate(trades)]
    raw = spark.createDataFrame(
        rows,
        "topic STRING, partition INT, offset BIGINT, value BINARY, "
        "headers ARRAY<STRUCT<key: STRING, value: BINARY>>",
    )
    bt = BatchTransform(65536, [], 10_000_000)
    parsed = bt.parse(raw)
    # every other id of BTCUSDT counted already: 25 ranges, padded with far-away ones
    few = {"BTCUSDT": [(t.trade_id, t.trade_id) for t in trades[:50:2]]}
    padding = [(10**9 + 2 * i, 10**9 + 2 * i) for i in range(MAX_INLINE_RANGES)]
    many = {"BTCUSDT": sorted(few["BTCUSDT"] + padding)}

    def statuses(stored: dict[str, list[tuple[int, int]]]) -> dict[tuple[str, int], str]:
        df = bt.classify(spark, parsed, {}, stored)
        return {(r["symbol"], r["trade_id"]): r["status"] for r in df.collect()}

    inline, joined = statuses(few), statuses(many)
    assert inline == joined
    dup = {k for k, v in inline.items() if v == "duplicate"}
    assert dup == {("BTCUSDT", t.trade_id) for t in trades[:50:2]}
    assert set(inline.values()) == {"duplicate", "accepted"}


def test_sampled_trades_are_traced_from_the_producer_to_the_commit(
    stack: StackFixture, spark: SparkSession, tmp_path: Path
) -> None:
    topic = f"it.traced.{uuid.uuid4().hex[:8]}"
    create_topics(stack, [topic, f"{topic}.dlq"])
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    trades = make_trades(["TRCUSDT"], per_symbol=30, span_s=3, seed=8)
    producer = Producer({"bootstrap.servers": stack.settings.bootstrap_servers()})
    parents = {}
    for i, t in enumerate(trades):
        headers: list[tuple[str, str | bytes | None]] | None = None
        if i % 10 == 0:  # the producer sampled these
            span = tracer.start_span("publish")
            headers = list(tracing.kafka_headers(otel_trace.set_span_in_context(span)))
            span.end()
            parents[t.trade_id] = span.get_span_context()
        producer.produce(topic, key=t.symbol.encode(), value=t.value(), headers=headers)
    assert producer.flush(30) == 0

    run(processor_settings(stack, topic, tmp_path / "ckpt"), spark=spark, tracer=tracer)

    spans = [s for s in exporter.get_finished_spans() if s.name == f"{topic} process"]
    assert len(spans) == len(parents) == 3
    for s in spans:
        assert s.attributes is not None
        parent = parents[int(str(s.attributes["cryptopipe.trade_id"]))]
        assert s.context.trace_id == parent.trace_id
        assert s.parent is not None and s.parent.span_id == parent.span_id
        assert s.attributes["cryptopipe.status"] == "accepted"


def test_ids_with_holes_inside_a_candle_are_stored_as_exact_ranges(
    stack: StackFixture, spark: SparkSession, tmp_path: Path
) -> None:
    """A second whose accepted ids have holes: the one aggregation cannot tell which ids are
    missing, so the ranges are computed from the rows (and a redelivery is still a duplicate)."""
    topic = f"it.holes.{uuid.uuid4().hex[:8]}"
    create_topics(stack, [topic, f"{topic}.dlq"])
    truncate_state(stack)
    trades = make_trades(["HOLUSDT"], per_symbol=40, span_s=1, seed=9)
    kept = [t for t in trades if t.trade_id % 7 != 3]  # holes inside each second
    produce(stack, topic, [(t.symbol.encode(), t.value()) for t in kept])
    run(processor_settings(stack, topic, tmp_path / "ckpt"), spark=spark)
    produce(stack, topic, [(t.symbol.encode(), t.value()) for t in kept[:5]])  # redelivered
    run(processor_settings(stack, topic, tmp_path / "ckpt"), spark=spark)

    stored = query(stack, "SELECT lo, hi FROM processor_trade_id_ranges ORDER BY lo")
    want = compact(t.trade_id for t in kept)
    assert [(int(lo), int(hi)) for lo, hi in stored] == want and len(want) > 1
    assert candles_in_db(stack) == normalized(expected_candles(kept))
    dups = query(stack, "SELECT SUM(duplicate_rows) FROM processor_batches")[0][0]
    assert int(dups) == 5
