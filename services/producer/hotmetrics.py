"""Cheap counters for the per-trade hot path, exposed as Prometheus metrics (the histograms:
:mod:`cryptopipe.observability.histograms`, shared with the processor).

``prometheus_client``'s Counter/Histogram take a lock and validate on every call (~1 µs each);
at 100k trades/s with several metrics per trade that is a third of a core. Here a labelled
child is a plain mutable cell the single producing thread bumps; a custom collector reads the
cells when Prometheus scrapes (reads of ints/floats are atomic under the GIL, and a scrape may
see one trade more or less, which is fine for monotonic counters).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector


class HotCounter(Collector):
    """A labelled counter whose children are ``[value]`` cells: ``cell[0] += 1``."""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry
    ) -> None:
        self.name = name.removesuffix("_total")
        self.documentation = documentation
        self.labelnames = list(labelnames)
        self._cells: dict[tuple[str, ...], list[float]] = {}
        registry.register(self)

    def cell(self, *labels: str) -> list[float]:
        found = self._cells.get(labels)
        if found is None:
            found = self._cells[labels] = [0.0]
        return found

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, cell in list(self._cells.items()):
            family.add_metric(list(labels), cell[0])
        yield family

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
