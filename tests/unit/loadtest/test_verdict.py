"""Verdict assembly, Locust's final statistics, spike recovery and the settings' sources."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cryptopipe.loadtest import plan as names
from cryptopipe.loadtest.settings import LoadtestSettings
from cryptopipe.loadtest.verdict import (
    VERDICT_FIELDS,
    Inputs,
    LatencyStats,
    SLOResult,
    assemble,
    locust_percentile,
    read_locust_stats,
    render_summary,
    spike_recovery_s,
)

SYMBOLS = ["LTAAUSDT", "LTABUSDT"]


def audit_json(ok: bool = True, missing: int = 0) -> dict[str, Any]:
    results = []
    for symbol in [*SYMBOLS, "OTHERUSDT"]:
        for interval in ("1s", "1m"):
            results.append(
                {
                    "symbol": symbol,
                    "interval": interval,
                    "topic_distinct": 500,
                    "candle_trades": 500 - missing,
                    "late_trades": 0,
                    "ok": not missing,
                    "problems": [f"{missing} missing in MySQL"] if missing else [],
                }
            )
    return {
        "ok": ok,
        "results": results,
        "rejected": {"by_symbol": {"LTAAUSDT": {"not_json": 7}, "OTHERUSDT": {"x": 1}}},
    }


def inputs(**changes: Any) -> Inputs:
    base: dict[str, Any] = {
        "run": {
            "target": "kafka",
            "shape": "step",
            "rate": 1000.0,
            "duration_s": 30.0,
            "symbols": SYMBOLS,
        },
        "result": {
            "symbols": SYMBOLS,
            "shape": "step",
            "trades_sent": 1000,
            "malformed_sent": 7,
            "capacity": 4000.0,
            "capacity_limited_by": "pipeline",
            "steps": [{"rate_per_s": 4000.0, "held": True, "why": ""}],
        },
        "stats": [LatencyStats("kafka", names.KAFKA_TRADE, 1000, 0, 12.0, 40.0, 70.0)],
        "audit": audit_json(),
        "audit_error": None,
        "slos": [SLOResult("cryptopipe-latency", {}, 99.0, 0.001, True)],
        "slo_error": None,
        "e2e_histogram": {"p50": 1.0, "p95": 2.0, "p99": 3.0},
        "peak_lag": 1200.0,
        "spike_recovery_s": None,
        "locust_exit_code": 0,
    }
    base.update(changes)
    return Inputs(**base)


def test_a_good_run_passes_with_every_field() -> None:
    verdict = assemble(inputs(peak_rss_mb={"processor": 912.4, "locust": 80.0}))
    assert verdict["ok"] and verdict["reasons"] == [] and set(VERDICT_FIELDS) <= set(verdict)
    assert verdict["trades_on_topic"] == 1000 == verdict["trades_in_mysql"]  # 1s, own symbols
    assert verdict["audit"]["rejected_of_run"] == 7
    assert verdict["capacity"]["trades_per_s"] == 4000.0
    assert verdict["latency"][f"kafka {names.KAFKA_TRADE}"]["p99_ms"] == 70.0
    summary = render_summary(verdict)
    assert "PASSED" in summary and "capacity 4,000 trades/s" in summary
    assert "processor 912 MB, locust 80 MB" in summary


def test_an_incomplete_audit_fails_the_run() -> None:
    verdict = assemble(inputs(audit=audit_json(ok=False, missing=3)))
    assert not verdict["ok"]
    assert any("audit incomplete" in r and "3 missing in MySQL" in r for r in verdict["reasons"])
    assert "FAILED" in render_summary(verdict)
    crashed = assemble(inputs(audit=None, audit_error="Kafka unreachable"))
    assert not crashed["ok"] and "audit failed to run: Kafka unreachable" in crashed["reasons"]


def test_an_slo_broken_over_the_run_fails_it_and_no_data_does_not() -> None:
    broken = SLOResult("cryptopipe-freshness", {"symbol": "LTAAUSDT"}, 99.5, 0.2, False)
    verdict = assemble(inputs(slos=[broken]))
    assert not verdict["ok"] and not verdict["slos_held"]
    assert "cryptopipe-freshness" in verdict["reasons"][0]
    quiet = assemble(inputs(slos=[SLOResult("x", {}, 99.0, None, None, "no data")]))
    assert quiet["ok"] and quiet["slos_held"]
    unknown = assemble(inputs(slo_error="cannot query Prometheus"))
    assert not unknown["ok"] and not unknown["slos_held"]


def test_sent_trades_missing_from_the_topic_or_failed_requests_fail_the_run() -> None:
    result = {**inputs().result, "trades_sent": 1003}
    assert "1003 trades sent but 1000 on the topic" in assemble(inputs(result=result))["reasons"]
    failing = [LatencyStats("e2e", names.E2E_TRADE, 10, 2, 1.0, 2.0, 3.0)]
    assert not assemble(inputs(stats=failing))["ok"]
    assert not assemble(inputs(locust_exit_code=2))["ok"]


def test_locust_final_stats_json(tmp_path: Path) -> None:
    # the shape of Locust's --json-file: its runner's final entries, rounded-ms histograms
    times = {"10": 50, "13": 40, "40": 5, "75": 4, "380": 1}  # 100 requests
    entries = [
        {"name": names.KAFKA_TRADE, "method": "kafka", "num_requests": 100, "num_failures": 0,
         "response_times": times},
        {"name": "x", "method": "e2e", "num_requests": 0, "num_failures": 0,
         "response_times": {}},
    ]  # fmt: skip
    path = tmp_path / "locust-stats.json"
    path.write_text(json.dumps(entries))
    assert read_locust_stats(path) == [
        LatencyStats("kafka", names.KAFKA_TRADE, 100, 0, 13.0, 75.0, 380.0),
        LatencyStats("e2e", "x", 0, 0, None, None, None),
    ]


def test_percentiles_are_the_ones_locust_reports(tmp_path: Path) -> None:
    # Locust's own percentile function, in a process of its own (importing locust patches the
    # standard library with gevent): the verdict's figures must be the HTML report's figures
    rng = random.Random(7)
    cases = [{rng.randint(1, 500): rng.randint(1, 20) for _ in range(rng.randint(1, 30))}
             for _ in range(300)]  # fmt: skip
    script = (
        "import json, sys\n"
        "from locust.stats import calculate_response_time_percentile as pct\n"
        "cases = [{int(k): v for k, v in c.items()} for c in json.load(sys.stdin)]\n"
        "print(json.dumps([[pct(c, sum(c.values()), p) for p in (0.5, 0.95, 0.99)]"
        " for c in cases]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(cases), capture_output=True,
        text=True, check=True, timeout=60,
    )  # fmt: skip
    theirs = json.loads(done.stdout)
    ours = [
        [
            locust_percentile({str(k): n for k, n in c.items()}, sum(c.values()), p)
            for p in (0.5, 0.95, 0.99)
        ]
        for c in cases
    ]
    assert ours == theirs


def test_spike_recovery_is_the_time_until_lag_is_one_trigger_of_trades() -> None:
    timeline: list[dict[str, float | None]] = [
        {"t": 80.0, "lag": 90_000.0},
        {"t": 91.0, "lag": 120_000.0},
        {"t": 100.0, "lag": 30_000.0},
        {"t": 104.5, "lag": 1500.0},
        {"t": 106.0, "lag": 900.0},
    ]
    assert spike_recovery_s(timeline, 90.0, 2000.0) == 14.5
    assert spike_recovery_s(timeline[:3], 90.0, 2000.0) is None


def test_settings_flags_over_env_over_pyproject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.cryptopipe.loadtest]\nrate = 750\nduration = "2m"\ntarget = "kafka"\n'
    )
    monkeypatch.chdir(tmp_path)
    for key in ("RATE", "DURATION", "TARGET", "SHAPE"):
        monkeypatch.delenv(f"CRYPTOPIPE_LOADTEST_{key}", raising=False)
    s = LoadtestSettings()
    assert (s.rate, s.duration_s(), s.target) == (750, 120, "kafka")
    monkeypatch.setenv("CRYPTOPIPE_LOADTEST_RATE", "900")
    assert LoadtestSettings().rate == 900
    assert LoadtestSettings(rate=1200).rate == 1200
    with pytest.raises(ValueError, match="duration"):
        LoadtestSettings(duration="soon")
    env = LoadtestSettings(web=True).as_env()
    assert env["CRYPTOPIPE_LOADTEST_WEB"] == "true" and env["CRYPTOPIPE_LOADTEST_RATE"] == "900.0"
    monkeypatch.setenv("CRYPTOPIPE_LOADTEST_WEB", "true")
    assert LoadtestSettings().web


def test_fresh_symbols_are_well_formed_and_new_each_run() -> None:
    first, second = names.fresh_symbols(30), names.fresh_symbols(3)
    assert len(set(first)) == 30 and not set(first) & set(second)
    assert all(s.isupper() and s.isalnum() and len(s) <= 20 for s in first)


def test_the_bucket_matcher_finds_the_python_clients_bound_labels() -> None:
    import re  # noqa: PLC0415

    from cryptopipe.loadtest.verdict import _le_matcher  # noqa: PLC0415

    def matches(threshold: float, label: str) -> bool:  # PromQL unescapes "\\" to "\"
        return re.fullmatch(_le_matcher(threshold).replace("\\\\", "\\"), label) is not None

    assert matches(5, "5.0") and matches(5, "5") and not matches(5, "50.0")
    assert matches(2.5, "2.5") and not matches(2.5, "2x5")
