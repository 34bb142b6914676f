"""Grafana dashboard-linter's rules (tests/unit/dashboards/lint.py) on our dashboards: each rule
passes on every generated dashboard and FAILS on a dashboard built here to break it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import timeseries

from cryptopipe.dashboards import common
from cryptopipe.dashboards.common import (
    PROMETHEUS,
    base_variables,
    build,
    new_dashboard,
    prom_variable,
    sel,
    target,
    timeseries_panel,
)
from cryptopipe.dashboards.generate import BOARDS
from tests.unit.dashboards.lint import RULES, selectors

GOOD_EXPR = f"sum(rate(cryptopipe_producer_frames_received_total{sel()}[$__rate_interval]))"


def board_with(
    *panels: Any,
    variables: list[Any] | None = None,
    fix: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """A dashboard built with the same builders as ours; ``fix`` edits its JSON afterwards."""
    board = new_dashboard("lint-test", "lint test", "a deliberately broken dashboard")
    for v in base_variables() if variables is None else variables:
        board = board.with_variable(v)
    built = build(board, list(panels) or [good_panel()])
    if fix is not None:
        fix(built)
    return built


def good_panel(expr: str = GOOD_EXPR) -> timeseries.Panel:
    return timeseries_panel("Frames", "Frames per second.", "ops", target(expr))


def set_in(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(board: dict[str, Any]) -> None:
        node: Any = board
        *parents, last = path.split(".")
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[last] = value

    return edit


def without_variable(name: str) -> list[Any]:
    return [v for v in base_variables() if v.build().name != name]


# One broken dashboard per rule: what it breaks is what the rule is for.
BROKEN: dict[str, Callable[[], dict[str, Any]]] = {
    "template-datasource-rule": lambda: board_with(variables=without_variable("datasource")),
    "template-job-rule": lambda: board_with(
        variables=[
            *without_variable("job"),
            dash.QueryVariable("job")
            .label("Job")
            .datasource(PROMETHEUS)
            .query(common.JOB_QUERY),  # single select, no "All" = .+
        ]
    ),
    "template-instance-rule": lambda: board_with(variables=without_variable("instance")),
    "template-label-promql-rule": lambda: board_with(
        variables=[*base_variables(), prom_variable("symbol", "label_values(up{job=~, symbol)")]
    ),
    "template-on-time-change-reload-rule": lambda: board_with(
        fix=set_in("templating.list.1.refresh", 1)
    ),
    "panel-datasource-rule": lambda: board_with(fix=set_in("panels.0.datasource.uid", "P1809F7")),
    "panel-title-description-rule": lambda: board_with(
        timeseries.Panel()
        .title("Frames")
        .unit("ops")
        .datasource(PROMETHEUS)
        .with_target(target(GOOD_EXPR).ref_id("A"))
    ),
    "panel-units-rule": lambda: board_with(
        timeseries.Panel()
        .title("Frames")
        .description("Frames per second.")
        .datasource(PROMETHEUS)
        .with_target(target(GOOD_EXPR).ref_id("A"))
    ),
    "panel-no-targets-rule": lambda: board_with(
        timeseries.Panel()
        .title("Frames")
        .description("No query.")
        .unit("ops")
        .datasource(PROMETHEUS)
    ),
    "target-promql-rule": lambda: board_with(good_panel(f"sum(rate(x{sel()}[$__rate_interval])")),
    "target-rate-interval-rule": lambda: board_with(
        good_panel(f"sum(rate(cryptopipe_producer_frames_received_total{sel()}[5m]))")
    ),
    "target-job-rule": lambda: board_with(
        good_panel('max(cryptopipe_producer_queue_depth_messages{instance=~"$instance"})')
    ),
    "target-instance-rule": lambda: board_with(
        good_panel('max(cryptopipe_producer_queue_depth_messages{job=~"$job"})')
    ),
    "target-counter-agg-rule": lambda: board_with(
        good_panel(f"sum(cryptopipe_producer_frames_received_total{sel()})")
    ),
}


@pytest.fixture(scope="module")
def ours() -> dict[str, dict[str, Any]]:
    return {name: make() for name, make in BOARDS.items()}


def test_every_rule_has_a_broken_dashboard() -> None:
    assert set(BROKEN) == set(RULES)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_passes_on_our_dashboards(rule: str, ours: dict[str, dict[str, Any]]) -> None:
    for name, board in ours.items():
        assert RULES[rule](board) == [], name


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_fails_on_a_dashboard_that_breaks_it(rule: str) -> None:
    broken = BROKEN[rule]()
    problems = RULES[rule](broken)
    assert problems, f"{rule} did not notice the broken dashboard"
    # and only that rule's concern is broken: the well-formed baseline passes it
    assert RULES[rule](board_with()) == []


@pytest.mark.parametrize("rule", ["target-job-rule", "target-instance-rule"])
def test_only_recording_rules_are_exempt_from_job_and_instance(rule: str) -> None:
    recorded = board_with(good_panel('slo:sli_error:ratio_rate5m{sloth_slo="latency"}'))
    assert RULES[rule](recorded) == []
    exported = board_with(good_panel('cryptopipe_processor_sink_pending_seconds{sloth="x"}'))
    assert RULES[rule](exported)


def test_selectors_see_through_functions_groupings_and_ranges() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, job) (rate(a_bucket{job=~"$job"}[$__rate_interval])))'
        " / on (instance) group_left b"
    )
    found = [(s.name, s.matchers, s.range) for s in selectors(expr)]
    assert found == [("a_bucket", '{job=~"$job"}', "[$__rate_interval]"), ("b", "", "")]


def test_the_broken_dashboards_do_not_share_state(ours: dict[str, dict[str, Any]]) -> None:
    before = copy.deepcopy(ours)
    for make in BROKEN.values():
        make()
    assert ours == before
