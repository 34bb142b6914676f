"""Every metric the SLO specs query is one the services really export (the metric classes own the
names; a rename there must not leave an SLO that silently reads nothing)."""

from __future__ import annotations

import re
from pathlib import Path

from cryptopipe.processor.metrics import ProcessorMetrics
from cryptopipe.producer.metrics import ProducerMetrics
from cryptopipe.slo.spec import load, queries
from tests.support.metric_names import exported

REPO = Path(__file__).resolve().parents[3]
_IDENT = re.compile(r"\b(cryptopipe[_:][A-Za-z0-9_:]*)")


def test_every_metric_in_the_specs_is_exported() -> None:
    specs = load([REPO / "slo"])
    available = exported(ProducerMetrics().registry) | exported(ProcessorMetrics().registry)
    recorded = {r.record for h in specs.helpers for g in h.groups for r in g.rules}
    used = {name for q in queries(specs) for name in _IDENT.findall(q.text)}
    assert used, "the specs query our metrics"
    assert used - available - recorded == set()
    # and the helper recordings are what the SLIs read
    assert recorded <= used
