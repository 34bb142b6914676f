"""An independent model of the generated SLO rules, and promtool unit-test files built from it.

For a scenario (the per-minute error fraction of one SLO), the model computes every window's
error ratio the way the rules define it and decides which alerts fire when. The same scenario is
written as a ``promtool test rules`` file (input series for the SLO's real metrics, and the alerts
the model expects at many evaluation times), so promtool, running the generated rules, must agree
with the model at every checked time. The Workbook claims (fires within its detection time, quiet
below budget, resolves after recovery) are asserted on the model by the tests.

Written for the promtool the project installs (Debian's 2.42): ranges include their left edge, and
the test files only hold values that print the same in every version (integers and short decimals).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cryptopipe.slo.generate import PAGE_WINDOWS, SLI_WINDOWS, TICKET_WINDOWS, BurnWindow

MINUTES = {"5m": 5, "30m": 30, "1h": 60, "2h": 120, "6h": 360, "1d": 1440, "3d": 4320}
assert set(MINUTES) == set(SLI_WINDOWS)
TRADES_PER_MIN = 1000
_TEMPLATE = re.compile(r"\{\{\s*\$labels\.(\w+)\s*\}\}")


@dataclass(frozen=True)
class Drive:
    """How one SLO of slo/cryptopipe.yaml is driven through its real input metrics."""

    slo: str
    alert: str
    budget: float  # 1 - objective
    time_slice: bool
    series: Callable[[list[float]], list[dict[str, str]]]  # per-minute error fraction -> inputs
    labels: dict[str, str] = field(default_factory=dict)  # labels the SLI keeps (symbol)


def _values(points: list[float]) -> str:
    return " ".join(_num(p) for p in points)


def _num(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def _cumulative(per_minute: list[float]) -> list[float]:
    out, total = [0.0], 0.0
    for v in per_minute:
        total += v
        out.append(round(total, 6))
    return out


def _input_quality(f: list[float]) -> list[dict[str, str]]:
    frames = _cumulative([TRADES_PER_MIN] * len(f))
    dlq = _cumulative([TRADES_PER_MIN * x for x in f])
    return [
        {
            "series": 'cryptopipe_producer_frames_received_total{source="binance"}',
            "values": _values(frames),
        },
        {
            "series": "cryptopipe_producer_dlq_records_total"
            '{reason="malformed",source="producer:binance"}',
            "values": _values(dlq),
        },
    ]


def _latency(f: list[float]) -> list[dict[str, str]]:
    produced = _cumulative([TRADES_PER_MIN] * len(f))
    within_5s = _cumulative([TRADES_PER_MIN * (1 - x) for x in f])
    return [
        {
            "series": 'cryptopipe_producer_trades_produced_total{symbol="BTCUSDT"}',
            "values": _values(produced),
        },
        {
            "series": 'cryptopipe_processor_end_to_end_latency_seconds_bucket{le="5.0"}',
            "values": _values(within_5s),
        },
        {
            "series": 'cryptopipe_processor_end_to_end_latency_seconds_bucket{le="+Inf"}',
            "values": _values(produced),
        },
    ]


def _trading_with(
    series: str, good: float, bad: float
) -> Callable[[list[float]], list[dict[str, str]]]:
    """A time-slice SLI's inputs: BTCUSDT trades every minute, ``series`` reads ``bad`` in bad
    minutes and ``good`` otherwise."""

    def build(f: list[float]) -> list[dict[str, str]]:
        accepted = _cumulative([300] * len(f))
        slices = [good] + [bad if x else good for x in f]
        return [
            {
                "series": 'cryptopipe_producer_trades_accepted_total{symbol="BTCUSDT"}',
                "values": _values(accepted),
            },
            {"series": series, "values": _values(slices)},
        ]

    return build


# freshness 40 s (over the 15 s threshold) in bad minutes; the producer unscrapable in bad minutes
_freshness = _trading_with('cryptopipe_processor_freshness_seconds{symbol="BTCUSDT"}', 2.0, 40.0)
_ingestion = _trading_with('up{job="cryptopipe-producer",instance="127.0.0.1:9101"}', 1.0, 0.0)


DRIVES = {
    "freshness": Drive(
        "freshness", "CryptopipeFreshnessBudgetBurn", 0.005, True, _freshness, {"symbol": "BTCUSDT"}
    ),
    "latency": Drive("latency", "CryptopipeLatencyBudgetBurn", 0.01, False, _latency),
    "ingestion": Drive("ingestion", "CryptopipeIngestionBudgetBurn", 0.005, True, _ingestion),
    "input-quality": Drive(
        "input-quality", "CryptopipeInputQualityBudgetBurn", 0.001, False, _input_quality
    ),
}


@dataclass(frozen=True)
class Phase:
    minutes: int
    burn: float  # burn rate: error fraction / budget


def fractions(drive: Drive, phases: list[Phase]) -> list[float]:
    """Per-minute error fraction (minutes 1..N). Time slices are 0/1, spread evenly (Bresenham)."""
    out: list[float] = []
    for phase in phases:
        f = min(1.0, phase.burn * drive.budget)
        for m in range(1, phase.minutes + 1):
            if drive.time_slice:
                out.append(1.0 if int(m * f + 1e-9) > int((m - 1) * f + 1e-9) else 0.0)
            else:
                out.append(f)
    return out


class Model:
    """Error ratios per window at each evaluation minute, as the generated rules compute them."""

    def __init__(self, drive: Drive, f: list[float]) -> None:
        self.drive = drive
        self.f = f
        self.cum = _cumulative(f)  # cum[t] = errors (fraction-minutes) up to minute t

    def ratio(self, t: int, window: str) -> float | None:
        w = MINUTES[window]
        start = max(0, t - w)
        if self.drive.time_slice:
            # one slice per evaluation minute k in [t-w, t], k >= 1 (a minute of data needed)
            first = max(1, start)
            if t < 1:
                return None
            n = t - first + 1
            bad = self.cum[t] - self.cum[first - 1]
            return bad / n
        if t < 1:
            return None
        return (self.cum[t] - self.cum[start]) / (t - start)

    def leg_fires(self, t: int, leg: BurnWindow) -> bool:
        threshold = leg.factor * self.drive.budget
        short, long = self.ratio(t, leg.short), self.ratio(t, leg.long)
        return short is not None and long is not None and short > threshold and long > threshold

    def fires(self, t: int, severity: str) -> bool:
        legs = PAGE_WINDOWS if severity == "page" else TICKET_WINDOWS
        return any(self.leg_fires(t, leg) for leg in legs)

    def margin(self, t: int) -> float:
        """Smallest relative distance of any window's ratio from any threshold it is compared to."""
        worst = float("inf")
        for leg in (*PAGE_WINDOWS, *TICKET_WINDOWS):
            threshold = leg.factor * self.drive.budget
            for window in (leg.short, leg.long):
                r = self.ratio(t, window)
                if r is not None:
                    worst = min(worst, abs(r - threshold) / threshold)
        return worst

    def first_firing(self, severity: str, start: int, end: int) -> int | None:
        return next((t for t in range(start, end + 1) if self.fires(t, severity)), None)


def _alert_rules(rule_file: Path, alert: str) -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(rule_file.read_text())
    rules = {}
    for group in doc["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                rules[rule["labels"]["sloth_severity"]] = rule
    return rules


def _sli_labels(rule_file: Path, slo: str) -> dict[str, str]:
    doc = yaml.safe_load(rule_file.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            labels = rule.get("labels", {})
            if (
                rule.get("record") == "slo:sli_error:ratio_rate5m"
                and labels.get("sloth_slo") == slo
            ):
                return {k: v for k, v in labels.items() if k != "sloth_window"}
    raise AssertionError(f"no SLI recordings for {slo} in {rule_file}")


def expected_alert(rule_file: Path, drive: Drive, severity: str) -> dict[str, Any]:
    rule = _alert_rules(rule_file, drive.alert)[severity]
    labels = {**_sli_labels(rule_file, drive.slo), **drive.labels, **rule["labels"]}
    annotations = {
        k: _TEMPLATE.sub(lambda m: labels.get(m.group(1), ""), v)
        for k, v in rule["annotations"].items()
    }
    return {"exp_labels": labels, "exp_annotations": annotations}


def group_order(rule_file: Path) -> list[str]:
    return [g["name"] for g in yaml.safe_load(rule_file.read_text())["groups"]]


def promtool_test(
    rule_file: Path, drive: Drive, model: Model, check_minutes: list[int], eval_step: int
) -> tuple[dict[str, Any], int]:
    """The promtool test document for a scenario and how many times were checked."""
    checks = []
    for t in sorted(set(check_minutes)):
        if t % eval_step or model.margin(t) < 0.02:
            continue  # not an evaluation time, or too close to a threshold to be a fair check
        alerts = [
            expected_alert(rule_file, drive, s) for s in ("page", "ticket") if model.fires(t, s)
        ]
        checks.append({"eval_time": f"{t}m", "alertname": drive.alert, "exp_alerts": alerts})
    doc = {
        "rule_files": [str(rule_file)],
        "evaluation_interval": f"{eval_step}m",
        "group_eval_order": group_order(rule_file),
        "tests": [
            {"interval": "1m", "input_series": drive.series(model.f), "alert_rule_test": checks}
        ],
    }
    return doc, len(checks)
