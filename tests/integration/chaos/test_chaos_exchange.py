"""The exchange experiments for real, through `cryptopipe chaos run`: the producer reads the
served exchange (`cryptopipe exchange serve`, started by the chaos pipeline) with --source
binance, so the exchange's faults and a kill -9 reach the real producer. One experiment as
shipped (nothing lost thanks to the REST backfill) and the same one made worse than the
pipeline can take (REST keeps less than the outage), which must deviate.

They run on the chaos package's one rig (conftest.py, tests/support/chaos_rig.py), after
test_chaos_live.py (the deviation here loses trades of the symbols every audit judges), with
alerts read from a Prometheus + Alertmanager started for this module with hours of healthy
history.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cryptopipe.chaos.settings import experiments_dir
from tests.conftest import port_base
from tests.support.chaos_rig import CLUSTER_OFFSET, ChaosRig, monitored

pytestmark = [pytest.mark.chaos, pytest.mark.kafka, pytest.mark.mysql, pytest.mark.spark]


@pytest.fixture(scope="module")
def rig(chaos_rig: ChaosRig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosRig]:
    """The package's rig watched by this module's own Prometheus + Alertmanager."""
    port = port_base() + CLUSTER_OFFSET + 81
    with monitored(chaos_rig, tmp_path_factory, port) as watched:
        yield watched


def exchange_state(rig: ChaosRig) -> dict[str, Any]:
    return rig.get(f"{rig.settings.exchange_url()}/control/state")


def _activity(journal: dict[str, Any], name: str) -> dict[str, Any]:
    run: dict[str, Any] = next(r for r in journal["run"] if r["activity"]["name"] == name)
    return run


def test_kill_9_of_the_producer_backfills_from_rest_pages_nobody_and_loses_nothing(
    rig: ChaosRig, tmp_path: Path
) -> None:
    proc = rig.chaos(tmp_path, "producer-kill")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    row = next(line.split() for line in proc.stdout.splitlines() if line.startswith("producer-"))
    # experiment, status, deviated, alert, recovery s, lost, double
    assert row[:4] == ["producer-kill", "completed", "no", "-"], out[-3000:]
    assert row[5:] == ["0", "0"], row
    journal = json.loads((tmp_path / "producer-kill.json").read_text())
    assert journal["steady_states"]["after"]["steady_state_met"] is True
    reconnected = _activity(journal, "producer-reconnected")["output"]
    assert reconnected["reconnected_after_s"] >= 15, "the producer was down for the pause"
    # what the producer missed while it was down came from REST: the restarted process
    # backfilled at least the 15 s it was away, at the exchange's rate
    mine = "|".join(rig.settings.symbol_set())
    filled = rig.query(f'sum(cryptopipe_producer_trades_backfilled_total{{symbol=~"{mine}"}})')
    assert filled and float(filled[0]["value"][1]) >= 10 * rig.settings.chaos_rate, filled
    assert exchange_state(rig)["rest"]["violations"] == 0


def test_the_producer_kill_outlasting_the_rest_history_deviates_and_pages(
    rig: ChaosRig, tmp_path: Path
) -> None:
    """Made worse than the pipeline can take: while the producer is down, the exchange's REST
    keeps only the last 5 s of trades, so the restart cannot backfill the rest of the 15 s."""
    doc = json.loads((experiments_dir() / "producer-kill.json").read_text())
    at = next(i for i, a in enumerate(doc["method"]) if a["name"] == "restart-producer")
    forget = {
        "type": "action",
        "name": "rest-keeps-5s",
        "provider": {
            "type": "python",
            "module": "cryptopipe.chaos.exchange",
            "func": "keep_history",
            "arguments": {"seconds": 5},
        },
        "pauses": {"after": 2},
    }
    doc["method"].insert(at, forget)
    proc = rig.variant(
        tmp_path, "producer-kill-short-history", doc, CRYPTOPIPE_CHAOS_AUDIT_WAIT_S="5"
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-4000:]
    journal = json.loads((tmp_path / "journals" / "producer-kill-short-history.json").read_text())
    assert journal["deviated"] is True, out[-3000:]
    after = journal["steady_states"]["after"]["probes"]
    audit = next(p for p in after if p["activity"]["name"] == "audit-complete")["output"]
    assert audit["ok"] is False, audit
    assert any("missing on the topic" in p for p in audit["problems"]), audit
    # the designed alert of a loss: the producer gave up a gap REST could not fill
    assert "CryptopipeUnrecoverableGap" in out, out[-3000:]
    # the rollback (always) lifted the fault: REST keeps its full history again
    assert exchange_state(rig)["market"]["history_s"] == 3600.0
