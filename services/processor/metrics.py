"""Prometheus metrics of `cryptopipe process` (all prefixed ``cryptopipe_processor_``).

Fed by the StreamingQueryListener (rates, batch duration, Kafka lag), the background reader of
the Kafka end offsets (:mod:`cryptopipe.processor.end_offsets`), and the sink (what each
committed batch wrote, end-to-end latency, freshness; freshness is restored from MySQL at start,
:mod:`cryptopipe.processor.freshness`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from cryptopipe.observability.histograms import WeightedHistogram
from cryptopipe.processor.end_offsets import EndOffsetsRefresher

logger = logging.getLogger(__name__)

P = "cryptopipe_processor_"
LATENCY_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
DURATION_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 120.0)


class FreshnessCollector(Collector):
    """``freshness_seconds{symbol}`` = now - newest committed trade time, computed at scrape.

    Fed after each commit and, at start, from MySQL (what earlier runs committed), from several
    threads: the newest time per symbol only moves forward."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._newest: dict[str, float] = {}

    def advance(self, newest_by_symbol_us: Mapping[str, int]) -> dict[str, float]:
        """Take the newer of the known and the given times; return the symbols that moved."""
        moved: dict[str, float] = {}
        with self._lock:
            for sym, t_us in newest_by_symbol_us.items():
                t = t_us / 1e6
                if t > self._newest.get(sym, 0.0):
                    self._newest[sym] = moved[sym] = t
        return moved

    def collect(self) -> Iterable[GaugeMetricFamily]:
        now = time.time()
        with self._lock:
            newest = sorted(self._newest.items())
        fam = GaugeMetricFamily(
            P + "freshness_seconds",
            "Now minus the newest trade time committed to MySQL, per symbol",
            labels=["symbol"],
        )
        for sym, t in newest:
            fam.add_metric([sym], max(0.0, now - t))
        yield fam


class LagCollector(Collector):
    """``kafka_offsets_behind_latest{topic}``: the topic's end offsets minus what the query has
    processed (the last progress' endOffset), summed over partitions.

    Spark commits no consumer-group offsets, so this is the only lag signal. The end offsets
    come from ``end_offsets`` (a background thread, so a scrape never waits for Kafka), read
    again after each progress, and from the progress' own latestOffset. Per partition the
    highest end offset ever seen is used: one that cannot be read keeps its last known value
    (the lag is then a lower bound, never a drop to 0), and
    ``kafka_end_offsets_age_seconds{topic}`` says how old the stalest one is.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: dict[str, dict[int, int]] = {}
        self._ends: dict[str, dict[int, int]] = {}
        self.end_offsets: EndOffsetsRefresher | None = None

    def progress(self, end_offset: Any, latest_offset: Any) -> None:
        with self._lock:
            for topic, parts in _offsets(end_offset).items():
                self._done.setdefault(topic, {}).update(parts)
                _raise_to(self._ends.setdefault(topic, {}), parts)
            for topic, parts in _offsets(latest_offset).items():
                _raise_to(self._ends.setdefault(topic, {}), parts)
        source = self.end_offsets
        if source is not None:
            source.kick()

    def lag(self) -> dict[str, int]:
        source = self.end_offsets
        with self._lock:
            if source is not None:
                for topic in source.topics():
                    view = source.view(topic)
                    if view is not None:
                        _raise_to(self._ends.setdefault(topic, {}), view[0])
            return {
                topic: sum(
                    max(0, self._ends.get(topic, {}).get(p, off) - off) for p, off in done.items()
                )
                for topic, done in self._done.items()
            }

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        fam = GaugeMetricFamily(
            P + "kafka_offsets_behind_latest",
            "Kafka offsets on the topic not processed yet by the streaming query",
            labels=["topic"],
        )
        for topic, behind in sorted(self.lag().items()):
            fam.add_metric([topic], float(behind))
        yield fam
        source = self.end_offsets
        if source is None:
            return
        age = GaugeMetricFamily(
            P + "kafka_end_offsets_age_seconds",
            "Seconds since the stalest partition's end offset was read from Kafka",
            labels=["topic"],
        )
        failures = CounterMetricFamily(
            P + "kafka_end_offsets_refresh_failures",
            "Background reads of the end offsets that missed a partition or the whole topic",
            labels=["topic"],
        )
        for topic in source.topics():
            view = source.view(topic)
            if view is not None:
                age.add_metric([topic], view[1])
                failures.add_metric([topic], float(view[2]))
        yield age
        yield failures


class ProcessorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.input_rows_per_s = Gauge(
            P + "input_rows_per_second", "Kafka rows/s read (last batch)", registry=r
        )
        self.processed_rows_per_s = Gauge(
            P + "processed_rows_per_second", "Rows/s processed (last batch)", registry=r
        )
        self.input_rows = Counter(P + "input_rows_total", "Kafka rows read", registry=r)
        self.batches = Counter(P + "batches_total", "Micro-batches committed", registry=r)
        self.query_restarts = Counter(
            P + "query_restarts_total",
            "Streaming queries restarted from their checkpoint after a transient Kafka failure",
            registry=r,
        )
        self.batches_skipped = Counter(
            P + "batches_replayed_total", "Replayed batches skipped by the ledger", registry=r
        )
        self.batch_duration = Histogram(
            P + "batch_duration_seconds",
            "Micro-batch duration (Spark)",
            buckets=DURATION_BUCKETS_S,
            registry=r,
        )
        self.kafka_lag = LagCollector()
        r.register(self.kafka_lag)
        self.watermark_delay = Gauge(
            P + "watermark_delay_seconds", "Now minus the event-time watermark", registry=r
        )
        self.watermark_setting = Gauge(
            P + "watermark_allowed_lateness_seconds", "Configured watermark delay", registry=r
        )
        self.state_rows = Gauge(
            P + "state_rows", "Rows of processor state in MySQL", ["table"], registry=r
        )
        self.late_rows = Counter(
            P + "late_rows_total", "Trades later than the watermark", registry=r
        )
        self.duplicate_rows = Counter(
            P + "duplicate_rows_total", "Deliveries of trades already counted", registry=r
        )
        self.rejected_rows = Counter(
            P + "rejected_rows_total", "Messages rejected (DLQ)", ["reason"], registry=r
        )
        self.accepted_rows = Counter(
            P + "accepted_rows_total", "Trades counted into candles", registry=r
        )
        self.rows_upserted = Counter(
            P + "rows_upserted_total", "Candle rows upserted", ["interval"], registry=r
        )
        self.sink_latency = Histogram(
            P + "sink_write_seconds",
            "MySQL transaction time per batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=r,
        )
        # DLQ and sink faults (services/processor/dlq_publisher.py, sink.py)
        self.dlq_published = Counter(
            P + "dlq_published_total", "Rejected messages confirmed on the DLQ topic", registry=r
        )
        self.dlq_failures = Counter(
            P + "dlq_publish_failures_total",
            "DLQ delivery attempts that failed, by Kafka error (retried or given up)",
            ["reason"],
            registry=r,
        )
        self.dlq_given_up = Counter(
            P + "dlq_publish_given_up_total",
            "Rejected messages not on the DLQ after the retries (still in rejected_trades)",
            ["reason"],
            registry=r,
        )
        self.sink_stalls = Counter(
            P + "sink_stalls_total",
            "MySQL operations that failed or timed out at least once (then retried)",
            ["operation"],
            registry=r,
        )
        self.sink_retries = Counter(
            P + "sink_retries_total",
            "MySQL attempts retried, by error",
            ["operation", "reason"],
            registry=r,
        )
        self.sink_failures = Counter(
            P + "sink_failures_total",
            "MySQL operations given up after mysql_retry_max_s (the batch fails)",
            ["operation"],
            registry=r,
        )
        self.sink_pending = Gauge(
            P + "sink_pending_seconds",
            "How long the current MySQL operation has been running, retries included (0: idle)",
            registry=r,
        )
        # weighted: one observation per latency bucket of a batch stands for its trades
        self.e2e_latency = WeightedHistogram(
            P + "end_to_end_latency_seconds",
            "Trade time to MySQL commit",
            LATENCY_BUCKETS_S,
            registry=r,
        )
        self.e2e_latency.child()  # exported (all zero) from the start
        self.last_trade_time = Gauge(
            P + "last_committed_trade_timestamp_seconds",
            "Trade time of the newest trade committed, per symbol",
            ["symbol"],
            registry=r,
        )
        self._freshness = FreshnessCollector()
        self._newest_lock = threading.Lock()
        r.register(self._freshness)

    def serve(self, port: int) -> tuple[Any, Any]:
        """Serve /metrics; returns (server, thread) so the caller can shut it down."""
        server, thread = start_http_server(port, registry=self.registry)
        logger.info("metrics on :%d/metrics", port)
        return server, thread

    def committed(
        self,
        newest_by_symbol: Mapping[str, int],
        buckets: Iterable[tuple[int, int]],
        commit_s: float,
    ) -> None:
        """After a commit: freshness per symbol and end-to-end latency of the batch's trades."""
        self.known_committed(newest_by_symbol)
        for t_us, n in buckets:
            self.e2e_latency.observe(max(0.0, commit_s - t_us / 1e6), n)

    def known_committed(self, newest_by_symbol: Mapping[str, int]) -> None:
        """Newest committed trade time per symbol (epoch us), from a commit or from MySQL at
        start: feeds ``freshness_seconds`` and ``last_committed_trade_timestamp_seconds``."""
        with self._newest_lock:  # the gauge must not end on the older of two racing times
            for sym, t in self._freshness.advance(newest_by_symbol).items():
                self.last_trade_time.labels(sym).set(t)

    def on_progress(self, progress_json: str) -> None:
        """Update from a StreamingQueryProgress (its JSON form)."""
        p: dict[str, Any] = json.loads(progress_json)
        self.input_rows_per_s.set(float(p.get("inputRowsPerSecond") or 0.0))
        self.processed_rows_per_s.set(float(p.get("processedRowsPerSecond") or 0.0))
        self.input_rows.inc(int(p.get("numInputRows") or 0))
        batch_ms = (p.get("durationMs") or {}).get("triggerExecution")
        if batch_ms is not None and int(p.get("numInputRows") or 0) > 0:
            self.batch_duration.observe(float(batch_ms) / 1000.0)
        for source in p.get("sources") or []:
            self.kafka_lag.progress(source.get("endOffset"), source.get("latestOffset"))


def _offsets(value: Any) -> dict[str, dict[int, int]]:
    """A Kafka source's offsets in a progress (JSON text or dicts): topic -> partition -> offset."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    if not isinstance(value, dict):
        return {}
    out: dict[str, dict[int, int]] = {}
    for topic, parts in value.items():
        if isinstance(parts, dict):
            out[str(topic)] = {int(p): int(o) for p, o in parts.items()}
    return out


def _raise_to(ends: dict[int, int], offsets: Mapping[int, int]) -> None:
    """End offsets only grow: keep the highest one seen per partition."""
    for p, off in offsets.items():
        ends[p] = max(off, ends.get(p, off))
