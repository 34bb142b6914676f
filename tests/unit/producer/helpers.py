"""Helpers shared by the tests of this folder."""

from __future__ import annotations

import orjson

from cryptopipe.dlq import DlqRecord
from cryptopipe.producer.metrics import ProducerMetrics
from cryptopipe.producer.pipeline import Headers, Pipeline
from cryptopipe.producer.trade import Trade

NOW_MS = 1_767_225_600_000


class MemorySink:
    def __init__(self) -> None:
        self.trades: list[tuple[Trade, Headers | None]] = []
        self.dlq: list[DlqRecord] = []

    def send_trade(self, trade: Trade, headers: Headers | None = None) -> None:
        self.trades.append((trade, headers))

    def send_dlq(self, record: DlqRecord) -> None:
        self.dlq.append(record)


def frame(trade_id: int, symbol: str = "BTCUSDT", **extra: object) -> bytes:
    payload = {
        "e": "trade",
        "E": NOW_MS,
        "s": symbol,
        "t": trade_id,
        "p": "10.5",
        "q": "1",
        "T": NOW_MS - 250,
        "m": False,
    }
    payload.update(extra)
    return orjson.dumps(payload)


def make(**kwargs: object) -> tuple[Pipeline, MemorySink, ProducerMetrics]:
    sink = MemorySink()
    metrics = ProducerMetrics()
    pipeline = Pipeline(sink, metrics, symbols=("BTCUSDT", "ETHUSDT"), source="test", **kwargs)  # type: ignore[arg-type]
    return pipeline, sink, metrics
