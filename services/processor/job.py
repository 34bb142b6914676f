"""The streaming query: Kafka -> parse/classify/aggregate (Spark) -> one MySQL transaction.

Imports pyspark; only the command's entry point imports this module (lazily).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Tracer
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as sf

from cryptopipe.processor import restarts, summary, trade_spans, transform
from cryptopipe.processor.batch import (
    BatchCounts,
    BatchResult,
    RejectedRow,
    merged_symbol_ranges,
)
from cryptopipe.processor.dlq_publisher import DlqPublisher
from cryptopipe.processor.end_offsets import READ_TIMEOUT_S, EndOffsetsReader, EndOffsetsRefresher
from cryptopipe.processor.freshness import FreshnessRestorer, read_newest_trade_times
from cryptopipe.processor.intervals import rollup_plan
from cryptopipe.processor.listener import MetricsListener
from cryptopipe.processor.metrics import ProcessorMetrics
from cryptopipe.processor.settings import ProcessorSettings
from cryptopipe.processor.sink import MySqlSink, StoredState
from cryptopipe.processor.spark_session import build_spark, kafka_source_options

logger = logging.getLogger(__name__)

QUERY_ID_WAIT_S = 120.0
HISTORY_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class BatchStats:
    """What one committed batch took (kept for benchmarks and debugging)."""

    batch_id: int
    input_rows: int
    accepted: int
    duration_s: float
    sink_s: float
    commit_s: float
    latency_buckets: list[tuple[int, int]]
    steps: dict[str, float]


class Laps:
    """Wall time of each step of a batch, for the debug log."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self._t = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.steps[name] = round(now - self._t, 4)
        self._t = now


class BatchProcessor:
    """The ``foreachBatch`` function. Runs on the driver, one batch at a time."""

    def __init__(
        self,
        settings: ProcessorSettings,
        sink: MySqlSink,
        metrics: ProcessorMetrics,
        dlq: DlqPublisher | None,
        tracer: Tracer | None = None,
    ) -> None:
        self._s = settings
        self._tracer = tracer or trade_spans.default_tracer()
        self._sink = sink
        self._metrics = metrics
        self._dlq = dlq
        self._direct, self._rolled = rollup_plan(settings.interval_list())
        self._query_id: str | None = None
        self._ready = threading.Event()
        self._transform: transform.BatchTransform | None = None  # built on the first batch
        self._summarize: transform.BatchSummary | None = None
        self.last_result: BatchResult | None = None
        self.history: deque[BatchStats] = deque(maxlen=HISTORY_LIMIT)

    def set_query_id(self, query_id: str) -> None:
        self._query_id = query_id
        self._ready.set()

    def __call__(self, df: DataFrame, batch_id: int) -> None:
        if not self._ready.wait(QUERY_ID_WAIT_S) or self._query_id is None:
            raise RuntimeError("streaming query id not known; cannot use the batch ledger")
        query_id = self._query_id
        if self._sink.is_applied(query_id, batch_id):
            logger.info("batch %d of query %s already applied; skipping", batch_id, query_id)
            self._metrics.batches_skipped.inc()
            return
        started = time.monotonic()
        started_ns = time.time_ns()
        laps = Laps()
        state = self._sink.load_state()
        laps.lap("state")
        if self._transform is None:
            self._transform = transform.BatchTransform(
                self._s.max_message_bytes,
                self._s.symbol_list(),
                self._s.watermark_delay_us,
                self._s.oversized_excerpt_bytes,
            )
            self._summarize = transform.BatchSummary(self._direct)
        classified = self._transform.classify(
            df.sparkSession,
            self._transform.parse(df),
            state.watermarks,
            state.symbol_ranges,
        )
        laps.lap("plan")
        result, buckets, traced = self._compute(classified, state, query_id, batch_id, laps)
        self._publish_rejected(result.rejected)
        laps.lap("dlq")
        t0 = time.monotonic()
        commit_start_ns = time.time_ns()
        with self._metrics.sink_latency.time():
            outcome = self._sink.commit(result)
        commit_ns = time.time_ns()
        commit_s = commit_ns / 1e9
        sink_s = time.monotonic() - t0
        laps.lap("sink")
        if not outcome.applied_by_this_call:
            self._metrics.batches_skipped.inc()
            return
        self.last_result = result
        self._record(result, buckets, commit_s)
        if traced:
            emitted = trade_spans.emit(
                self._tracer,
                traced,
                topic=self._s.topic_trades,
                batch_id=batch_id,
                start_ns=started_ns,
                end_ns=commit_ns,
                input_rows=result.counts.input_rows,
                commit_start_ns=commit_start_ns,
            )
            for trade, trace_id in emitted:
                if trade.status == summary.STATUS_ACCEPTED and trade.trade_time_us is not None:
                    self._metrics.e2e_latency.exemplar(
                        commit_s - trade.trade_time_us / 1e6, trace_id
                    )
        duration = time.monotonic() - started
        self.history.append(
            BatchStats(
                batch_id,
                result.counts.input_rows,
                result.counts.accepted,
                duration,
                sink_s,
                commit_s,
                buckets,
                laps.steps,
            )
        )
        logger.debug("batch %d steps: %s", batch_id, laps.steps)
        logger.info(
            "batch %d: %d in, %d accepted, %d duplicate, %d late, %d rejected, %d candles "
            "(%.2fs, sink %.3fs)",
            batch_id,
            result.counts.input_rows,
            result.counts.accepted,
            result.counts.duplicates,
            result.counts.late,
            result.counts.rejected,
            len(result.candles),
            duration,
            sink_s,
        )

    def _compute(
        self,
        classified: DataFrame,
        state: StoredState,
        query_id: str,
        batch_id: int,
        laps: Laps,
    ) -> tuple[BatchResult, list[tuple[int, int]], list[trade_spans.TracedTrade]]:
        assert self._summarize is not None
        groups = self._summarize.apply(classified, time.time_ns() // 1000).collect()
        laps.lap("summary")
        s = summary.fold([g.asDict() for g in groups], self._direct, self._rolled)
        laps.lap("fold")
        new_ranges = s.new_ranges
        if new_ranges is None:
            # some symbol's new ids have holes: ranges from the rows (the batch is recomputed)
            new_ranges = {}
            accepted = classified.filter(sf.col("status") == summary.STATUS_ACCEPTED)
            for row in transform.new_id_ranges(accepted).collect():
                new_ranges.setdefault(row["symbol"], []).append((int(row["lo"]), int(row["hi"])))
            laps.lap("ranges")
        # A late trade's id is decided too: stored with the counted ones, it leaves no hole in
        # the ranges, and a later delivery of it is a duplicate, as it already is within a batch
        # (whichever batch the redelivery falls in, the same status).
        for late in s.late:
            new_ranges.setdefault(late.symbol, []).append((late.trade_id, late.trade_id))
        counts = BatchCounts(
            input_rows=sum(s.by_status.values()),
            accepted=s.by_status.get(summary.STATUS_ACCEPTED, 0),
            duplicates=s.by_status.get(summary.STATUS_DUPLICATE, 0),
            late=s.by_status.get(summary.STATUS_LATE, 0),
            rejected=s.by_status.get(summary.STATUS_REJECTED, 0),
        )
        result = BatchResult(
            query_id=query_id,
            batch_id=batch_id,
            topic=self._s.topic_trades,
            counts=counts,
            candles=s.candles,
            symbol_max_time_us=s.symbol_max_time_us,
            symbol_ranges=merged_symbol_ranges(state.symbol_ranges, new_ranges),
            late=s.late,
            rejected=s.rejected,
        )
        self._metrics.state_rows.labels("processor_trade_id_ranges").set(
            sum(len(v) for v in {**state.symbol_ranges, **result.symbol_ranges}.values())
        )
        marks = {**state.watermarks}
        for sym, t in s.symbol_max_time_us.items():
            marks[sym] = max(marks.get(sym, t), t)
        self._metrics.state_rows.labels("processor_symbol_watermarks").set(len(marks))
        if marks:
            oldest = min(marks.values()) - self._s.watermark_delay_us
            self._metrics.watermark_delay.set(max(0.0, time.time() - oldest / 1e6))
        return result, s.latency_buckets, s.traced

    def _publish_rejected(self, rows: list[RejectedRow]) -> None:
        if rows and self._dlq is not None:
            # never raises for a Kafka failure: what the DLQ misses, rejected_trades still has
            self._dlq.publish(rows)

    def _record(self, r: BatchResult, buckets: list[tuple[int, int]], commit_s: float) -> None:
        m = self._metrics
        m.batches.inc()
        m.accepted_rows.inc(r.counts.accepted)
        m.duplicate_rows.inc(r.counts.duplicates)
        m.late_rows.inc(r.counts.late)
        for row in r.rejected:
            m.rejected_rows.labels(row.reason.value).inc()
        per_interval: dict[str, int] = {}
        for c in r.candles:
            per_interval[c.bar_interval] = per_interval.get(c.bar_interval, 0) + 1
        for label, n in per_interval.items():
            m.rows_upserted.labels(label).inc(n)
        m.committed(r.newest_trade_time_by_symbol(), buckets, commit_s)


def latest_offsets_reader(
    settings: ProcessorSettings,
) -> tuple[EndOffsetsReader, Callable[[], None]]:
    """A function reading every partition's end offset of a topic (for the lag metric's
    background thread, :class:`EndOffsetsRefresher`), and a function releasing its Kafka client.

    The partitions' ListOffsets requests go out together (one per leader) and each call is
    bounded by ``READ_TIMEOUT_S``: a partition whose leader is down comes back as None while
    the others are read."""
    from confluent_kafka import KafkaException, TopicPartition  # noqa: PLC0415
    from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]  # noqa: PLC0415

    admin: AdminClient | None = AdminClient(dict(settings.kafka_client_config()))
    latest_spec = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    lock = threading.Lock()

    def latest(topic: str) -> dict[int, int | None]:
        with lock:
            if admin is None:
                raise RuntimeError("lag reader closed")
            admin.poll(0)  # librdkafka's queued log lines reach our logger only when polled
            meta = admin.list_topics(topic, timeout=READ_TIMEOUT_S).topics.get(topic)
            if meta is None or meta.error is not None:
                raise RuntimeError(f"no metadata for {topic}: {meta.error if meta else 'absent'}")
            futures = admin.list_offsets(
                {TopicPartition(topic, p): latest_spec for p in meta.partitions},
                request_timeout=READ_TIMEOUT_S,
            )
        out: dict[int, int | None] = {}
        for tp, fut in futures.items():
            try:
                offset = int(fut.result(timeout=READ_TIMEOUT_S + 1).offset)
            except (KafkaException, TimeoutError):
                offset = -1
            out[tp.partition] = offset if offset >= 0 else None  # librdkafka: -1001 = unknown
        return out

    def close() -> None:
        nonlocal admin
        with lock:
            admin = None  # librdkafka destroys the client with its last reference

    return latest, close


def _run_query(
    query: Any, settings: ProcessorSettings, processor: BatchProcessor, stop: threading.Event
) -> str | None:
    """Run ``query`` until ``stop`` is set or it ends; its failure's text, None if none."""
    processor.set_query_id(str(query.id))
    logger.info(
        "query %s (%s) reading %s, checkpoint %s",
        settings.query_name,
        query.id,
        settings.topic_trades,
        settings.resolved_checkpoint_dir(),
    )
    while query.isActive and not stop.is_set():
        query.awaitTermination(1)
    if query.isActive:
        logger.info("stopping query %s", settings.query_name)
        query.stop()
    exc = query.exception()
    return None if exc is None else str(exc)


def run(
    settings: ProcessorSettings,
    *,
    stop: threading.Event | None = None,
    spark: SparkSession | None = None,
    metrics: ProcessorMetrics | None = None,
    tracer: Tracer | None = None,
) -> BatchProcessor:
    """Run the query until ``stop`` is set (or, with ``available_now``, until caught up)."""
    stop = stop or threading.Event()
    metrics = metrics or ProcessorMetrics()
    # freshness from the first scrape: what earlier runs committed (one bounded read now, the
    # retries in the background), and the lag's end offsets read off the scrape path
    restorer = FreshnessRestorer(lambda: read_newest_trade_times(settings), metrics.known_committed)
    restorer.start()
    read_end_offsets, close_lag_reader = latest_offsets_reader(settings)
    end_offsets = EndOffsetsRefresher([settings.topic_trades], read_end_offsets)
    metrics.kafka_lag.end_offsets = end_offsets
    end_offsets.start()
    server: Any = None
    if settings.metrics_enabled:
        server, _thread = metrics.serve(settings.processor_metrics_port)
    metrics.watermark_setting.set(settings.watermark_delay_s)
    spark = spark or build_spark(settings)
    sink = MySqlSink(settings, metrics)
    metrics.sink_pending.set_function(sink.pending_seconds)
    dlq = DlqPublisher(settings, metrics) if settings.dlq_enabled else None
    processor = BatchProcessor(settings, sink, metrics, dlq, tracer)
    listener = MetricsListener(metrics, settings.query_name)
    spark.streams.addListener(listener)
    checkpoint = settings.resolved_checkpoint_dir()
    try:
        source = spark.readStream.format("kafka").options(**kafka_source_options(settings)).load()
        writer = (
            source.writeStream.queryName(settings.query_name)
            .option("checkpointLocation", checkpoint)
            .foreachBatch(processor)
        )
        if settings.available_now:
            writer = writer.trigger(availableNow=True)
        else:
            writer = writer.trigger(processingTime=f"{settings.trigger_interval_s} seconds")
        delay_s: float | None = None
        while True:
            started = time.monotonic()
            failure = _run_query(writer.start(), settings, processor, stop)
            if failure is None:
                break
            if stop.is_set() or not restarts.transient(failure):
                raise RuntimeError(f"streaming query failed: {failure}")
            delay_s = restarts.next_delay_s(
                delay_s, time.monotonic() - started, settings.query_restart_max_s
            )
            metrics.query_restarts.inc()
            logger.warning(
                "query %s failed on Kafka (%s); restarting it from its checkpoint in %.0fs",
                settings.query_name,
                failure.splitlines()[0][:300],
                delay_s,
            )
            if stop.wait(delay_s):
                break
    finally:
        spark.streams.removeListener(listener)
        metrics.kafka_lag.end_offsets = None
        end_offsets.stop()
        close_lag_reader()
        restorer.stop()
        sink.close()
        if dlq is not None:
            dlq.close()
        if server is not None:
            server.shutdown()
    return processor
