"""Prometheus metrics of the producer (``cryptopipe_producer_*``), on their own registry.

Labels are low cardinality: ``symbol`` (configured symbols only), ``reason``, ``source``.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from cryptopipe.observability.histograms import WeightedHistogram
from cryptopipe.producer.hotmetrics import HotCounter

logger = logging.getLogger(__name__)

_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_DELIVERY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 30.0)

P = "cryptopipe_producer_"


class ProducerMetrics:
    """All producer metrics. One instance per process (tests may build several)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # Hot path (once per trade): cheap cells, see hotmetrics.py.
        self.frames_received = HotCounter(
            P + "frames_received_total", "Raw frames/payloads received", ["source"], r
        )
        self.trades_accepted = HotCounter(
            P + "trades_accepted_total",
            "Valid trades accepted for Kafka (after dedup); completeness SLI numerator",
            ["symbol"],
            r,
        )
        self.trades_produced = HotCounter(
            P + "trades_produced_total",
            "Trades acknowledged by Kafka (delivery report OK, acks=all)",
            ["symbol"],
            r,
        )
        self.delivery_failures = Counter(
            P + "delivery_failures_total",
            "Messages whose delivery report carried an error",
            ["topic", "error"],
            registry=r,
        )
        self.dlq_records = Counter(
            P + "dlq_records_total", "Inputs sent to the DLQ", ["reason", "source"], registry=r
        )
        self.duplicates = Counter(
            P + "duplicates_dropped_total",
            "Trades seen again (overlap, backfill meeting live) and produced only once",
            ["symbol"],
            registry=r,
        )
        self.reconnects = Counter(
            P + "reconnects_total", "WebSocket reconnects", ["reason"], registry=r
        )
        self.gaps_detected = Counter(
            P + "gaps_detected_total", "Trade-id gaps detected", ["symbol"], registry=r
        )
        self.gap_trades_missing = Counter(
            P + "gap_trades_total", "Trades missing in detected gaps", ["symbol"], registry=r
        )
        self.trades_backfilled = Counter(
            P + "trades_backfilled_total",
            "Missing trades recovered from REST",
            ["symbol"],
            registry=r,
        )
        self.trades_lost = Counter(
            P + "trades_unrecoverable_total",
            "Missing trades REST could not return (given up after retries)",
            ["symbol"],
            registry=r,
        )
        self.rest_requests = Counter(
            P + "rest_requests_total", "REST calls to Binance", ["endpoint", "status"], registry=r
        )
        self.rest_used_weight = Gauge(
            P + "rest_used_weight", "Last X-MBX-USED-WEIGHT-1M seen", registry=r
        )
        self.ingest_lag = WeightedHistogram(
            P + "ingest_lag_seconds", "Receive time minus trade time", _LAG_BUCKETS, ["symbol"], r
        )
        self.delivery_latency = WeightedHistogram(
            P + "delivery_latency_seconds", "produce() to delivery report", _DELIVERY_BUCKETS, [], r
        )
        self.queue_depth = Gauge(
            P + "queue_depth_messages", "Messages waiting in the Kafka client queue", registry=r
        )
        self.backpressure_seconds = Counter(
            P + "backpressure_wait_seconds_total",
            "Time spent waiting for room in the full Kafka client queue",
            registry=r,
        )
        self.connections = Gauge(
            P + "websocket_connections", "Open Binance WebSocket connections", registry=r
        )
        self.up = Gauge(P + "up", "1 while the producer runs", registry=r)

    def serve(self, port: int, addr: str = "0.0.0.0") -> Any:
        """Start the /metrics HTTP server in a daemon thread."""
        logger.info("metrics on http://%s:%d/metrics", addr, port)
        return start_http_server(port, addr=addr, registry=self.registry)
