"""The generator: Sloth's names and labels, the Workbook's burn rates, our additions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from cryptopipe.slo import generate as gen
from cryptopipe.slo.spec import SLO, Alerting, AlertLevel, SpecSet, load

REPO = Path(__file__).resolve().parents[3]


def an_slo(**changes: Any) -> SLO:
    base = SLO(
        service="shop",
        name="availability",
        objective=99.9,
        period="30d",
        labels={"owner": "a"},
        error_query='sum(rate(req_total{code=~"5.."}[{{.window}}]))',
        total_query="sum(rate(req_total[{{.window}}]))",
        alerting=Alerting(name="ShopAvailability", labels={"category": "availability"}),
    )
    return replace(base, **changes)


def records(group: dict[str, Any]) -> list[str]:
    return [r.get("record") or r["alert"] for r in group["rules"]]


def test_numbers_print_as_sloth_prints_them() -> None:
    assert gen.objective_ratio(an_slo()) == "0.9990000000000001"
    assert gen.error_budget_ratio(an_slo()) == "0.0009999999999999432"
    assert [gen.num(x) for x in (14.4, 6, 3.0, 1, 99.5)] == ["14.4", "6", "3", "1", "99.5"]


def test_sli_group_has_every_window_the_period_and_the_events() -> None:
    group = gen.sli_group(an_slo())
    assert group["name"] == "sloth-slo-sli-recordings-shop-availability"
    ratios = [r for r in records(group) if r.startswith("slo:sli_error:ratio_rate")]
    assert ratios == [f"slo:sli_error:ratio_rate{w}" for w in (*gen.SLI_WINDOWS, "30d")]
    for w in gen.SLI_WINDOWS:
        assert f"slo:sli_error_events:rate{w}" in records(group)
        assert f"slo:sli_total_events:rate{w}" in records(group)
    first = group["rules"][0]
    assert first["labels"] == {
        "owner": "a",
        "sloth_id": "shop-availability",
        "sloth_service": "shop",
        "sloth_slo": "availability",
        "sloth_window": "5m",
    }
    assert "[5m]" in first["expr"] and "{{.window}}" not in first["expr"]


def test_the_period_ratio_is_weighted_by_traffic() -> None:
    period = gen.sli_group(an_slo())["rules"][-1]
    assert period["record"] == "slo:sli_error:ratio_rate30d"
    assert "sum_over_time(slo:sli_error_events:rate5m{" in period["expr"]
    assert "sum_over_time(slo:sli_total_events:rate5m{" in period["expr"]
    assert "count_over_time" not in period["expr"]


def test_a_raw_sli_keeps_sloths_period_average() -> None:
    raw = an_slo(
        error_query=None, total_query=None, error_ratio_query="1 - avg_over_time(up[{{.window}}])"
    )
    group = gen.sli_group(raw)
    assert records(group) == [f"slo:sli_error:ratio_rate{w}" for w in (*gen.SLI_WINDOWS, "30d")]
    assert group["rules"][0]["expr"] == "(1 - avg_over_time(up[5m]))\n"
    assert "count_over_time(slo:sli_error:ratio_rate5m{" in group["rules"][-1]["expr"]


@pytest.mark.parametrize("period,days", [("7d", 7), ("28d", 28), ("30d", 30)])
def test_periods(period: str, days: int) -> None:
    slo = an_slo(period=period)
    assert gen.sli_group(slo)["rules"][-1]["record"] == f"slo:sli_error:ratio_rate{period}"
    meta = {r["record"]: r for r in gen.meta_group(slo)["rules"]}
    assert meta["slo:time_period:days"]["expr"] == f"vector({days})"
    assert f"slo:sli_error:ratio_rate{period}{{" in meta["slo:period_burn_rate:ratio"]["expr"]


def test_meta_recordings_are_sloths() -> None:
    meta = gen.meta_group(an_slo())
    assert records(meta) == [
        "slo:objective:ratio",
        "slo:error_budget:ratio",
        "slo:time_period:days",
        "slo:current_burn_rate:ratio",
        "slo:period_burn_rate:ratio",
        "slo:period_error_budget_remaining:ratio",
        "sloth_slo_info",
    ]
    info = meta["rules"][-1]["labels"]
    assert info["sloth_objective"] == "99.9" and info["sloth_mode"] == "cli-gen-prom"
    assert info["sloth_spec"] == "prometheus/v1" and info["sloth_id"] == "shop-availability"


def test_alerts_follow_the_workbook_table() -> None:
    page, ticket = gen.alert_group(an_slo())["rules"]  # type: ignore[index]
    budget = "0.0009999999999999432"
    for factor, window in ((14.4, "1h"), (14.4, "5m"), (6, "6h"), (6, "30m")):
        assert (
            f"ratio_rate{window}{{" in page["expr"]
            and f"({gen.num(factor)} * {budget})" in page["expr"]
        )
    for factor, window in ((3, "1d"), (3, "2h"), (1, "3d"), (1, "6h")):
        assert (
            f"ratio_rate{window}{{" in ticket["expr"]
            and f"({gen.num(factor)} * {budget})" in ticket["expr"]
        )
    assert page["labels"] == {
        "category": "availability",
        "service": "shop",
        "severity": "page",
        "slo": "availability",
        "sloth_severity": "page",
    }
    assert ticket["labels"]["severity"] == "ticket"
    assert page["annotations"]["runbook_url"] == "docs/runbooks/ShopAvailability.md"
    assert page["alert"] == ticket["alert"] == "ShopAvailability"


def test_budget_shares_and_factors_agree() -> None:
    """Factor = budget share x period hours / long-window hours, for the 30 d period."""
    hours = {"1h": 1, "6h": 6, "1d": 24, "3d": 72}
    for w in (*gen.PAGE_WINDOWS, *gen.TICKET_WINDOWS):
        assert w.factor == pytest.approx(w.budget_share * 720 / hours[w.long])


def test_a_disabled_page_leaves_the_ticket() -> None:
    slo = an_slo(alerting=Alerting(name="X", page=AlertLevel(enabled=False)))
    (only,) = gen.alert_group(slo)["rules"]  # type: ignore[index]
    assert only["labels"]["severity"] == "ticket"
    both_off = an_slo(alerting=Alerting(name="X", page=AlertLevel(False), ticket=AlertLevel(False)))
    assert gen.alert_group(both_off) is None


def test_the_rendered_file_has_the_header_and_parses() -> None:
    text = gen.render_service(SpecSet(slos=[an_slo()]), "shop")
    assert text.startswith("# generated by cryptopipe slo generate, do not edit")
    doc = yaml.safe_load(text)
    assert [g["name"] for g in doc["groups"]] == [
        "sloth-slo-sli-recordings-shop-availability",
        "sloth-slo-meta-recordings-shop-availability",
        "sloth-slo-alerts-shop-availability",
    ]


def test_the_pipelines_rules_start_with_the_helper_recordings() -> None:
    files = gen.render_all(load([REPO / "slo"]))
    assert list(files) == ["slo-cryptopipe.yml"]
    groups = yaml.safe_load(files["slo-cryptopipe.yml"])["groups"]
    assert groups[0]["name"] == "cryptopipe-slo-time-slices"
    alerts = {r["alert"] for g in groups for r in g["rules"] if "alert" in r}
    assert alerts == {
        "CryptopipeFreshnessBudgetBurn",
        "CryptopipeLatencyBudgetBurn",
        "CryptopipeIngestionBudgetBurn",
        "CryptopipeInputQualityBudgetBurn",
    }
