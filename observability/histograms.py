"""The one Prometheus histogram collector of the services: weighted, cheap, with exemplars.

``prometheus_client``'s Histogram takes a lock and validates on every call (~1 µs) and has no
weighted observe: the producer observes once per trade on its hot path (100k trades/s), the
processor once per latency bucket of a batch standing for thousands of trades. Here a labelled
child is a plain :class:`HistogramCell` its single writer bumps (no lock: reads of ints and
floats are atomic under the GIL, and a scrape may see one observation more or less, which is
fine for a histogram); the collector reads the cells when Prometheus scrapes. A bucket keeps
the latest exemplar put on it (e.g. ``{"trace_id": ...}``), shown in the OpenMetrics
exposition. Buckets are ``le``-inclusive, as Prometheus defines them.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar

logger = logging.getLogger(__name__)

INF = float("inf")
Bucket = tuple[str, float] | tuple[str, float, Exemplar]


def le_label(bound: float) -> str:
    """Prometheus ``le`` label text (``+Inf``, ``0.5``, ``1.0``)."""
    return "+Inf" if bound == INF else repr(float(bound))


class HistogramCell:
    """One labelled child: bucket counts, sum and exemplars."""

    __slots__ = ("bounds", "counts", "exemplars", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # last slot: +Inf
        self.total = 0.0
        self.exemplars: dict[int, Exemplar] = {}

    def observe(self, value: float, count: int = 1) -> None:
        """``count`` observations of ``value`` (one for a trade, n for a batch's bucket)."""
        self.counts[bisect_left(self.bounds, value)] += count
        self.total += value * count

    def observe_with_exemplar(self, value: float, labels: Mapping[str, str]) -> None:
        """Observe once and keep ``labels`` as the bucket's exemplar."""
        index = bisect_left(self.bounds, value)
        self.counts[index] += 1
        self.total += value
        self.exemplars[index] = Exemplar(dict(labels), value, time.time())

    def exemplar(self, value: float, trace_id: str) -> None:
        """Attach an already observed traced value to its bucket."""
        self.exemplars[bisect_left(self.bounds, value)] = Exemplar(
            {"trace_id": trace_id}, value, time.time()
        )

    def snapshot(self) -> tuple[list[tuple[str, float]], float]:
        """Cumulative ``(le, count)`` per bucket (``+Inf`` last) and the sum."""
        cumulative: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip((*self.bounds, INF), list(self.counts), strict=True):
            running += n
            cumulative.append((le_label(bound), float(running)))
        return cumulative, self.total

    def quantile(self, q: float) -> float:
        """Upper bound of the bucket holding quantile ``q`` (for benchmark reports)."""
        total = sum(self.counts)
        if total == 0:
            return float("nan")
        running = 0
        for bound, n in zip((*self.bounds, INF), self.counts, strict=True):
            running += n
            if running >= q * total:
                return bound
        return INF


class WeightedHistogram(Collector):
    """A histogram family: one :class:`HistogramCell` per label values (``child(*labels)``).

    Without labels, ``observe``/``exemplar``/``snapshot``/``quantile`` act on the one child.
    Registered on ``registry`` if given. A child is exported once it exists.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Iterable[float],
        labelnames: Sequence[str] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = list(labelnames)
        self.bounds = tuple(sorted(float(b) for b in buckets))
        self._children: dict[tuple[str, ...], HistogramCell] = {}
        if registry is not None:
            registry.register(self)

    def child(self, *labels: str) -> HistogramCell:
        found = self._children.get(labels)
        if found is None:
            found = self._children[labels] = HistogramCell(self.bounds)
        return found

    def observe(self, value: float, count: int = 1) -> None:
        self.child().observe(value, count)

    def exemplar(self, value: float, trace_id: str) -> None:
        self.child().exemplar(value, trace_id)

    def snapshot(self) -> tuple[list[tuple[str, float]], float]:
        return self.child().snapshot()

    def quantile(self, q: float) -> float:
        return self.child().quantile(q)

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, cell in list(self._children.items()):
            buckets, total = cell.snapshot()
            exemplars = dict(cell.exemplars)
            with_exemplars: list[Bucket] = [
                (le, n, exemplars[i]) if i in exemplars else (le, n)
                for i, (le, n) in enumerate(buckets)
            ]
            family.add_metric(list(labels), with_exemplars, total)
        yield family

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
