"""Run the producer in a background thread of the test process, and read the outcome."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from cryptopipe.producer.app import RunResult, run
from cryptopipe.producer.metrics import ProducerMetrics
from cryptopipe.producer.settings import ProducerSettings
from cryptopipe.producer.stopper import Stopper
from tests.integration.producer.conftest import Topics


@dataclass
class RunningProducer:
    settings: ProducerSettings
    stopper: Stopper = field(default_factory=Stopper)
    metrics: ProducerMetrics = field(default_factory=ProducerMetrics)
    result: RunResult | None = None
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def metric(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.error is not None:
                raise AssertionError(f"producer failed: {self.error!r}") from self.error
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError("condition not reached in time")

    def accepted(self, symbol: str) -> float:
        return self.metric("cryptopipe_producer_trades_accepted_total", symbol=symbol)


@contextmanager
def producer_thread(settings: ProducerSettings) -> Iterator[RunningProducer]:
    with producer_thread_for(settings, ProducerMetrics()) as handle:
        yield handle


@contextmanager
def producer_thread_for(
    settings: ProducerSettings, metrics: ProducerMetrics
) -> Iterator[RunningProducer]:
    """Run the producer in a thread with the given metrics; stopped on exit."""
    handle = RunningProducer(settings, metrics=metrics)

    def target() -> None:
        try:
            handle.result = run(settings, handle.stopper, handle.metrics, serve_metrics=False)
        except BaseException as exc:
            handle.error = exc

    handle.thread = threading.Thread(target=target, name="producer", daemon=True)
    handle.thread.start()
    try:
        yield handle
    finally:
        handle.stopper.stop("test done")
        handle.thread.join(timeout=60)
    assert not handle.thread.is_alive(), "producer did not stop"
    if handle.error is not None:
        raise handle.error


def trade_ids(topics: Topics) -> Counter[tuple[str, int]]:
    """(symbol, trade_id) -> how many times it is on the trades topic."""
    return Counter((r.json()["symbol"], r.json()["trade_id"]) for r in topics.read(topics.trades))


def assert_exactly_once(topics: Topics, expected: dict[str, list[int]]) -> None:
    counts = trade_ids(topics)
    dupes = {k: n for k, n in counts.items() if n > 1}
    assert not dupes, f"duplicates on the topic: {sorted(dupes)[:10]}"
    for symbol, ids in expected.items():
        got = sorted(i for s, i in counts if s == symbol)
        missing = sorted(set(ids) - set(got))
        assert not missing, f"{symbol}: missing {missing[:20]} ({len(missing)})"
        assert got == sorted(ids), f"{symbol}: unexpected ids {sorted(set(got) - set(ids))[:20]}"
    assert {s for s, _ in counts} <= set(expected)
