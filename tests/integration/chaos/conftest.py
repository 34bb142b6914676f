"""The chaos package's one rig (tests/support/chaos_rig.py): a 3-broker cluster with Toxiproxy
and the chaos pipeline on it, started once for both modules; each module watches it with a
Prometheus + Alertmanager of its own (``monitored``).

The modules share the pipeline's symbols, and every experiment's hypothesis audits them from
the start: so test_chaos_exchange.py, whose last run loses trades on purpose (REST keeps less
than the outage), runs after test_chaos_live.py, whose last test audits that its runs lost
nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.chaos_rig import ChaosRig, chaos_cluster, chaos_pipeline

HERE = Path(__file__).parent
# the modules in the order they run (see above)
MODULE_ORDER = ("test_chaos_live.py", "test_chaos_exchange.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put this package's tests in MODULE_ORDER, where they were collected; others untouched."""
    at = [i for i, item in enumerate(items) if item.path.parent == HERE]
    ours = [items[i] for i in at]

    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return MODULE_ORDER.index(name) if name in MODULE_ORDER else len(MODULE_ORDER)

    for i, item in zip(at, sorted(ours, key=rank), strict=True):
        items[i] = item


@pytest.fixture(scope="package")
def chaos_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosRig]:
    with chaos_cluster(tmp_path_factory) as cluster, chaos_pipeline(cluster) as rig:
        yield rig
