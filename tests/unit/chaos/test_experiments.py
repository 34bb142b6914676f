"""Every experiment is one Chaos Toolkit accepts, and each keeps the rules of our experiments:
rollbacks, a steady state with the completeness probe, providers that exist."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cryptopipe.chaos.actions import PIPELINE_SERVICES
from cryptopipe.chaos.settings import EXCHANGE_TAG, experiments_dir

EXPERIMENTS = sorted(experiments_dir().glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def _activities(doc: dict[str, Any]) -> list[dict[str, Any]]:
    steady = doc["steady-state-hypothesis"]["probes"]
    return [*steady, *doc["method"], *doc.get("rollbacks", [])]


def test_the_experiments_ship_with_the_package() -> None:
    names = {p.stem for p in EXPERIMENTS}
    assert {
        "processor-kill",
        "kafka-partition",
        "mariadb-outage",
        "kafka-broker-loss",
        "kafka-quorum-loss",
        "mariadb-slow",
        "kafka-latency",
        "producer-kill",
        "exchange-disconnect-storm",
        "exchange-server-shutdown",
        "exchange-silent-connection",
        "exchange-429-backfill",
    } <= names


def test_chaos_validate_accepts_every_experiment() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cryptopipe.cli", "chaos", "validate"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for path in EXPERIMENTS:
        assert f"{path.stem:<20} valid" in proc.stdout


def test_chaos_validate_refuses_a_broken_experiment(tmp_path: Path) -> None:
    doc = _load(EXPERIMENTS[0])
    doc["method"][0]["provider"]["func"] = "no_such_action"
    (tmp_path / "broken.json").write_text(json.dumps(doc))
    proc = subprocess.run(
        [sys.executable, "-m", "cryptopipe.cli", "chaos", "validate", "broken"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "CRYPTOPIPE_CHAOS_EXPERIMENTS_DIR": str(tmp_path)},
    )
    assert proc.returncode == 1 and "INVALID" in proc.stdout


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_each_experiment_rolls_back_and_proves_completeness(path: Path) -> None:
    doc = _load(path)
    assert doc.get("rollbacks"), "rollbacks restore every service and remove every toxic"
    steady = [p["provider"]["func"] for p in doc["steady-state-hypothesis"]["probes"]]
    assert "audit_complete" in steady
    assert doc["method"][0]["provider"]["func"] == "none_fired", "no page before the fault"
    for activity in _activities(doc):
        provider = activity["provider"]
        module = importlib.import_module(provider["module"])
        assert callable(getattr(module, provider["func"])), activity["name"]


def _calls(activities: list[dict[str, Any]], func: str) -> list[dict[str, Any]]:
    return [a["provider"].get("arguments", {}) for a in activities if a["provider"]["func"] == func]


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_each_rollback_restores_what_its_method_breaks(path: Path) -> None:
    """Every service the method kills is started again by a rollback (a stack server by
    `stack up`, which starts every server that is down, so one such rollback covers them all;
    a pipeline service by its name), and every toxic or disabled proxy is taken off."""
    doc = _load(path)
    method, rollbacks = doc["method"], doc["rollbacks"]
    restarted = {a["name"] for a in _calls(rollbacks, "start_service")}
    for killed in {a["name"] for a in _calls(method, "kill_service")}:
        if killed in PIPELINE_SERVICES:
            assert killed in restarted, killed
        else:
            assert restarted - PIPELINE_SERVICES, f"no rollback starts the stack's {killed}"
    reset = bool(_calls(rollbacks, "reset"))
    for toxic in _calls(method, "create_latency_toxic") + _calls(method, "create_toxic"):
        deleted = {(a["for_proxy"], a["toxic_name"]) for a in _calls(rollbacks, "delete_toxic")}
        assert reset or (toxic["for_proxy"], toxic["toxic_name"]) in deleted, toxic
    enabled = {a["proxy_name"] for a in _calls(rollbacks, "enable_proxy")}
    for disabled in _calls(method, "disable_proxy"):
        assert reset or disabled["proxy_name"] in enabled, disabled


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_exchange_faults_run_on_the_exchange_and_are_lifted(path: Path) -> None:
    """An experiment that calls the exchange's fault controls is tagged so that `chaos run`
    puts the producer on the served exchange, and a rollback lifts every exchange fault."""
    doc = _load(path)
    module = "cryptopipe.chaos.exchange"
    calls = [a for a in doc["method"] if a["provider"]["module"] == module]
    assert (EXCHANGE_TAG in doc["tags"]) == bool(calls), "tagged exchange iff it uses it"
    if any(a["type"] == "action" for a in calls):
        lifted = [a for a in doc["rollbacks"] if a["provider"]["func"] == "reset_faults"]
        assert lifted, "a rollback lifts the exchange faults"
