"""Cheap counters and histograms for the per-trade hot path, exposed as Prometheus metrics.

``prometheus_client``'s Counter/Histogram take a lock and validate on every call (~1 µs each);
at 100k trades/s with several metrics per trade that is a third of a core. Here a labelled
child is a plain mutable cell the single producing thread bumps; a custom collector reads the
cells when Prometheus scrapes (reads of ints/floats are atomic under the GIL, and a scrape may
see one trade more or less, which is fine for monotonic counters).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar


def _le(bound: float) -> str:
    """Prometheus ``le`` label text (``+Inf``, ``0.5``, ``1.0``)."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


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


class HotHistogramChild:
    __slots__ = ("bounds", "counts", "exemplars", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # last slot: +Inf
        self.total = 0.0
        self.exemplars: dict[int, Exemplar] = {}

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def observe_with_exemplar(self, value: float, labels: dict[str, str]) -> None:
        """Observe and keep ``labels`` (e.g. ``{"trace_id": ...}``) as the bucket's exemplar
        (shown in the OpenMetrics exposition)."""
        index = bisect_left(self.bounds, value)
        self.counts[index] += 1
        self.total += value
        self.exemplars[index] = Exemplar(labels, value, time.time())


class HotHistogram(Collector):
    """A labelled histogram with cheap ``observe`` (no lock, bisect)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = list(labelnames)
        self.bounds = tuple(sorted(float(b) for b in buckets))
        self._children: dict[tuple[str, ...], HotHistogramChild] = {}
        registry.register(self)

    def child(self, *labels: str) -> HotHistogramChild:
        found = self._children.get(labels)
        if found is None:
            found = self._children[labels] = HotHistogramChild(self.bounds)
        return found

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, child in list(self._children.items()):
            counts = list(child.counts)
            exemplars = dict(child.exemplars)
            cumulative = 0
            buckets: list[tuple[str, float] | tuple[str, float, Exemplar]] = []
            for index, (bound, n) in enumerate(
                zip((*self.bounds, float("inf")), counts, strict=True)
            ):
                cumulative += n
                exemplar = exemplars.get(index)
                if exemplar is None:
                    buckets.append((_le(bound), cumulative))
                else:
                    buckets.append((_le(bound), cumulative, exemplar))
            family.add_metric(list(labels), buckets, child.total)
        yield family

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
