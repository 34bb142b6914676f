"""The shared path: normalize -> dedup/gaps -> sink or DLQ, with metrics (in-memory sink)."""

from __future__ import annotations

from cryptopipe.dlq import HEADER_REASON, HEADER_SOURCE
from cryptopipe.producer.metrics import ProducerMetrics
from cryptopipe.producer.sequence import Gap
from tests.unit.producer.helpers import NOW_MS, frame, make


def sample(metrics: ProducerMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_valid_frames_are_sent_and_counted_with_ingest_lag() -> None:
    pipeline, sink, metrics = make()
    for i in range(1, 4):
        pipeline.handle_frame(frame(i), receive_time_us=NOW_MS * 1000)
    assert [t.trade_id for t, _ in sink.trades] == [1, 2, 3]
    p = "cryptopipe_producer_"
    assert sample(metrics, p + "frames_received_total", source="test") == 3
    assert sample(metrics, p + "trades_accepted_total", symbol="BTCUSDT") == 3
    assert sample(metrics, p + "ingest_lag_seconds_count", symbol="BTCUSDT") == 3
    assert sample(metrics, p + "ingest_lag_seconds_sum", symbol="BTCUSDT") == 0.75


def test_bad_frame_goes_to_dlq_with_raw_bytes_reason_and_source() -> None:
    pipeline, sink, metrics = make()
    raw = frame(1, p="0")
    pipeline.handle_frame(raw)
    assert sink.trades == []
    (record,) = sink.dlq
    assert record.raw == raw
    headers = dict(record.headers())
    assert headers[HEADER_REASON] == b"non_positive"
    assert headers[HEADER_SOURCE] == b"producer:test"
    p = "cryptopipe_producer_dlq_records_total"
    assert sample(metrics, p, reason="non_positive", source="test") == 1


def test_duplicates_are_dropped_and_counted_gaps_reported() -> None:
    gaps: list[Gap] = []
    pipeline, sink, metrics = make(on_gap=gaps.append)
    for i in (1, 2, 2, 5, 3, 4, 4):
        pipeline.handle_frame(frame(i))
    assert [t.trade_id for t, _ in sink.trades] == [1, 2, 5, 3, 4]
    assert gaps == [Gap("BTCUSDT", 3, 4)]
    assert sample(metrics, "cryptopipe_producer_duplicates_dropped_total", symbol="BTCUSDT") == 2
    assert sample(metrics, "cryptopipe_producer_gaps_detected_total", symbol="BTCUSDT") == 1
    assert sample(metrics, "cryptopipe_producer_gap_trades_total", symbol="BTCUSDT") == 2


def test_headers_hook_adds_kafka_headers() -> None:
    hook_headers = [("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    pipeline, sink, _ = make(headers_hook=lambda trade: hook_headers)
    pipeline.handle_frame(frame(1))
    assert sink.trades[0][1] == hook_headers
