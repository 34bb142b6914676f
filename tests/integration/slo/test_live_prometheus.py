"""The local stack's Prometheus loads the generated SLO rules, and `cryptopipe slo status` reads
them while a real producer runs and no processor does (so freshness and latency burn)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from cryptopipe.cli import main
from cryptopipe.slo.generate import BUDGET_REMAINING
from cryptopipe.stack.prometheus import url
from tests.conftest import RunningStack

pytestmark = [pytest.mark.prometheus, pytest.mark.kafka]

REPO = Path(__file__).resolve().parents[3]
GENERATED = REPO / "observability" / "rules" / "slo-cryptopipe.yml"


def get(base: str, path: str, **params: str) -> Any:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{base}{path}{query}", timeout=10) as resp:
        return json.load(resp)["data"]


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(2)
    raise AssertionError(f"not reached within {timeout_s:.0f} s: {what}")


def instant(base: str, promql: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = get(base, "/api/v1/query", query=promql)["result"]
    return result


# symbols of this test alone: no other test's processor ever committed them
SYMBOLS = ("SLOAUSDT", "SLOBUSDT")
EXPECTED = {
    ("freshness", "SLOAUSDT"),
    ("freshness", "SLOBUSDT"),
    ("latency", ""),
    ("ingestion", ""),
    ("input-quality", ""),
}


def slo_keys(series: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(slo, symbol) of each series of a Sloth recording."""
    return {(s["metric"]["sloth_slo"], s["metric"].get("symbol", "")) for s in series}


def test_prometheus_loads_the_generated_groups_healthy(stack: RunningStack) -> None:
    base = url(stack.settings.prometheus_port)
    expected = [g["name"] for g in yaml.safe_load(GENERATED.read_text())["groups"]]

    def loaded() -> dict[str, Any]:
        groups = get(base, "/api/v1/rules")["groups"]
        return {g["name"]: g for g in groups if g["file"].endswith("slo-cryptopipe.yml")}

    wait_until(lambda: set(expected) <= set(loaded()), 60, "SLO rule groups loaded")

    def evaluated_ok() -> bool:
        groups = loaded()
        rules = [r for name in expected for r in groups[name]["rules"]]
        return all(
            r["health"] == "ok" and r.get("lastEvaluation", "").startswith("20") for r in rules
        )

    wait_until(evaluated_ok, 60, "every SLO rule evaluated with health ok")
    bad = [r["name"] for g in loaded().values() for r in g["rules"] if r["health"] != "ok"]
    assert bad == []


def test_slo_status_reads_the_live_slos_while_the_processor_is_down(
    stack: RunningStack, tmp_path: Path
) -> None:
    base = url(stack.settings.prometheus_port)
    env = stack.env()
    log = (tmp_path / "producer.log").open("w")
    producer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cryptopipe.cli",
            "produce",
            "--source",
            "synthetic",
            "--symbols",
            ",".join(SYMBOLS).lower(),
            "--rate",
            "50",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # A minute of trades is needed before a slice can be judged (increase over 1m).
        wait_until(
            lambda: (
                [s["value"][1] for s in instant(base, "cryptopipe:ingestion_slice:bad")] == ["0"]
            ),
            180,
            "ingestion slice good once the producer has run a minute",
        )
        # (earlier tests of the session may have left series of their own symbols in the 5m
        # windows: this test looks at its own)
        wait_until(
            lambda: slo_keys(instant(base, "slo:sli_error:ratio_rate5m")) >= EXPECTED,
            120,
            "the 5m SLI of every SLO (freshness per symbol)",
        )
        wait_until(
            lambda: slo_keys(instant(base, "slo:sli_total_events:rate5m > 0")) >= EXPECTED,
            120,
            "traffic recorded in every SLO's 5m total",
        )
        result = CliRunner().invoke(main, ["slo", "status", "--json", "--prometheus-url", base])
        assert result.exit_code == 0, result.output
        rows = {
            key: r
            for r in json.loads(result.output)
            if (key := (r["slo"], r["labels"].get("symbol", "")))[1] in ("", *SYMBOLS)
        }
        table = CliRunner().invoke(main, ["slo", "status", "--prometheus-url", base])
        print(table.output)
    finally:
        producer.send_signal(signal.SIGTERM)
        producer.wait(timeout=60)
        log.close()

    assert set(rows) == EXPECTED
    for symbol in SYMBOLS:
        fresh = rows[("freshness", symbol)]
        # no processor: every slice while the symbol trades is bad -> 200x the 0.5 % budget
        assert fresh["objective_percent"] == 99.5
        assert fresh["sli_percent"] == 0.0
        assert fresh["burn_rate"]["5m"] == pytest.approx(200)
    # latency and input quality are not per symbol: earlier tests of the session may still have
    # commits (or a rejected message) of their own in the 5m window; alone, this test reads
    # latency 0 % (100x) and input quality 100 % (0x)
    latency = rows[("latency", "")]
    assert latency["sli_percent"] < 90, "trades produced but never committed are late"
    assert latency["burn_rate"]["5m"] > 10
    quality = rows[("input-quality", "")]
    assert quality["sli_percent"] > 99.9 and quality["burn_rate"]["5m"] < 1
    assert set(quality["burn_rate"]) == {"5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"}
    # the period's budget is the whole session's: the load tests' malformed share and the alert
    # tests' bursts spend it before this test runs (CI read -167 %), so compare with Prometheus's
    # own recording of it rather than with a fresh budget
    recorded = instant(base, f'{BUDGET_REMAINING}{{sloth_slo="input-quality"}}')
    assert len(recorded) == 1
    expected = 100 * float(recorded[0]["value"][1])
    assert quality["budget_remaining_percent"] == pytest.approx(expected, abs=2.0)
    assert quality["budget_remaining_percent"] <= 100
    ingestion = rows[("ingestion", "")]
    assert ingestion["objective_percent"] == 99.5 and ingestion["sli_percent"] is not None
