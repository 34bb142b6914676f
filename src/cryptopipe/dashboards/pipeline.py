"""Pipeline internals: producer, Kafka, Spark, MySQL sink and end-to-end latency, on the metrics
the services export (services/producer/metrics.py, services/processor/metrics.py)."""

from __future__ import annotations

import logging
from typing import Any

from cryptopipe.dashboards.common import (
    base_variables,
    build,
    heatmap_panel,
    new_dashboard,
    prom_variable,
    row,
    sel,
    stat_panel,
    target,
    timeseries_panel,
)

logger = logging.getLogger(__name__)

UID = "cryptopipe-pipeline"
PR = "cryptopipe_producer_"
PC = "cryptopipe_processor_"
RI = "[$__rate_interval]"
SYM = 'symbol=~"$symbol"'
SYMBOL_QUERY = f"label_values({PR}trades_accepted_total{sel()}, symbol)"


def rate(metric: str, *matchers: str, by: str = "") -> str:
    grouping = f"sum by ({by}) " if by else "sum "
    return f"{grouping}(rate({metric}{sel(*matchers)}{RI}))"


def increase(metric: str, *matchers: str, by: str = "") -> str:
    grouping = f"sum by ({by}) " if by else "sum "
    return f"{grouping}(increase({metric}{sel(*matchers)}{RI}))"


def quantiles(histogram: str, *matchers: str) -> list[Any]:
    return [
        target(
            f"histogram_quantile({q}, sum by (le) (rate({histogram}_bucket{sel(*matchers)}{RI})))",
            f"p{round(q * 100)}",
        )
        for q in (0.5, 0.95, 0.99)
    ]


def buckets(histogram: str, *, exemplar: bool = False) -> Any:
    return target(
        f"sum by (le) (rate({histogram}_bucket{sel()}{RI}))",
        "{{le}}",
        heatmap_format=True,
        exemplar=exemplar,
    )


def producer() -> list[Any]:
    return [
        row("Producer"),
        timeseries_panel(
            "Frames received",
            "Raw WebSocket frames or REST payloads the producer received per second, by source.",
            "ops",
            target(rate(f"{PR}frames_received_total", by="source"), "{{source}}"),
        ),
        timeseries_panel(
            "Trades accepted and produced per symbol",
            "Valid trades accepted for Kafka (after dedup) and trades Kafka acknowledged "
            "(acks=all), per second and symbol.",
            "ops",
            target(rate(f"{PR}trades_accepted_total", SYM, by="symbol"), "accepted {{symbol}}"),
            target(rate(f"{PR}trades_produced_total", SYM, by="symbol"), "produced {{symbol}}"),
        ),
        timeseries_panel(
            "Producer DLQ by reason",
            "Inputs the producer refused to the DLQ topic per second, by reason and source "
            "(malformed frames, invalid fields).",
            "ops",
            target(rate(f"{PR}dlq_records_total", by="reason, source"), "{{reason}} ({{source}})"),
        ),
        timeseries_panel(
            "WebSocket reconnects by reason",
            "Reconnects of the Binance WebSocket per interval, by reason (server close, ping "
            "timeout, error); the producer backs off exponentially between them.",
            "short",
            target(increase(f"{PR}reconnects_total", by="reason"), "{{reason}}"),
        ),
        timeseries_panel(
            "Trade-id gaps detected and backfilled",
            "Trade-id gaps detected per symbol, the trades recovered from REST for them and "
            "those REST could not return (unrecoverable), per interval.",
            "short",
            target(increase(f"{PR}gaps_detected_total", SYM, by="symbol"), "gaps {{symbol}}"),
            target(
                increase(f"{PR}trades_backfilled_total", SYM, by="symbol"), "backfilled {{symbol}}"
            ),
            target(
                increase(f"{PR}trades_unrecoverable_total", SYM, by="symbol"), "lost {{symbol}}"
            ),
        ),
        heatmap_panel(
            "Kafka delivery latency",
            "Time from produce() to the delivery report (acks=all), as a heatmap of the "
            "histogram buckets per interval.",
            "s",
            buckets(f"{PR}delivery_latency_seconds"),
        ),
        timeseries_panel(
            "Kafka client queue depth",
            "Messages waiting in the producer's Kafka client queue (librdkafka).",
            "short",
            target(f"max by (instance) ({PR}queue_depth_messages{sel()})", "{{instance}}"),
            width=6,
        ),
        timeseries_panel(
            "Backpressure",
            "Share of the time the producer waited for room in the full Kafka client queue.",
            "percentunit",
            target(rate(f"{PR}backpressure_wait_seconds_total"), "waiting"),
            width=6,
        ),
    ]


def kafka() -> list[Any]:
    return [
        row("Kafka"),
        timeseries_panel(
            "Offsets behind latest (Spark query)",
            "Offsets on the topic the streaming query has not processed yet (end offsets minus "
            "the last progress' end offset, summed over partitions).",
            "short",
            target(f"max by (topic) ({PC}kafka_offsets_behind_latest{sel()})", "{{topic}}"),
        ),
        timeseries_panel(
            "End offsets age",
            "Seconds since the stalest partition's end offset was read from Kafka: while it "
            "grows, the lag above is a lower bound.",
            "s",
            target(f"max by (topic) ({PC}kafka_end_offsets_age_seconds{sel()})", "{{topic}}"),
        ),
        timeseries_panel(
            "Topic throughput",
            "Trades written to the trades topic (acknowledged to the producer) and rows the "
            "Spark query read from it, per second.",
            "ops",
            target(rate(f"{PR}trades_produced_total"), "written"),
            target(rate(f"{PC}input_rows_total"), "read by Spark"),
        ),
    ]


def spark() -> list[Any]:
    return [
        row("Spark"),
        timeseries_panel(
            "Batch duration",
            "Micro-batch duration reported by Spark's StreamingQueryListener (quantiles).",
            "s",
            *quantiles(f"{PC}batch_duration_seconds"),
        ),
        timeseries_panel(
            "Input vs processed rows",
            "Rows per second Spark read from Kafka and processed in the last batch: processed "
            "below input means the query falls behind.",
            "ops",
            target(f"max({PC}input_rows_per_second{sel()})", "input"),
            target(f"max({PC}processed_rows_per_second{sel()})", "processed"),
        ),
        timeseries_panel(
            "Late and rejected rows",
            "Trades later than the watermark (dropped from the candles) and messages rejected "
            "to the DLQ, by reason, per second.",
            "ops",
            target(rate(f"{PC}late_rows_total"), "late"),
            target(rate(f"{PC}rejected_rows_total", by="reason"), "rejected {{reason}}"),
        ),
    ]


def mysql() -> list[Any]:
    return [
        row("MySQL sink"),
        timeseries_panel(
            "MySQL commit latency",
            "MySQL transaction time per batch (candles, ledger and offsets in one commit).",
            "s",
            *quantiles(f"{PC}sink_write_seconds"),
        ),
        timeseries_panel(
            "MySQL sink stalls",
            "MySQL operations that failed or timed out at least once, the retried attempts by "
            "error, and those given up (the batch fails), per interval.",
            "short",
            target(increase(f"{PC}sink_stalls_total", by="operation"), "stalled {{operation}}"),
            target(
                increase(f"{PC}sink_retries_total", by="operation, reason"),
                "retried {{operation}} {{reason}}",
            ),
            target(increase(f"{PC}sink_failures_total", by="operation"), "failed {{operation}}"),
        ),
        timeseries_panel(
            "MySQL operation pending",
            "How long the current MySQL operation has been running, retries included (0: idle).",
            "s",
            target(f"max({PC}sink_pending_seconds{sel()})", "pending"),
        ),
    ]


def end_to_end() -> list[Any]:
    return [
        row("End to end"),
        heatmap_panel(
            "End-to-end latency",
            "Trade time to MySQL commit, as a heatmap of the histogram buckets; exemplars "
            "(trace_id of sampled traced trades) mark single trades.",
            "s",
            buckets(f"{PC}end_to_end_latency_seconds", exemplar=True),
        ),
        timeseries_panel(
            "End-to-end latency quantiles",
            "Trade time to MySQL commit (quantiles); the latency SLO counts trades within 5 s.",
            "s",
            *quantiles(f"{PC}end_to_end_latency_seconds"),
            width=6,
        ),
        stat_panel(
            "Freshness per symbol",
            "Now minus the newest trade time committed to MySQL, per symbol (the freshness SLI "
            "counts slices above 15 s as bad).",
            "s",
            target(f"max by (symbol) ({PC}freshness_seconds{sel(SYM)})", "{{symbol}}"),
            height=9,
        ),
    ]


def dashboard() -> dict[str, Any]:
    board = new_dashboard(
        UID,
        "cryptopipe / Pipeline internals",
        "Producer, Kafka, Spark, MySQL sink and end-to-end latency (docs/slis.md)",
    )
    for variable in [*base_variables(), prom_variable("symbol", SYMBOL_QUERY)]:
        board = board.with_variable(variable)
    return build(board, [*producer(), *kafka(), *spark(), *mysql(), *end_to_end()])
