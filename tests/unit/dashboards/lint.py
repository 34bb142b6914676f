"""The rules of Grafana's dashboard-linter (github.com/grafana/dashboard-linter), written here
because its binary cannot be installed. Each rule takes a dashboard's JSON and returns its
problems (empty: the dashboard passes).

One exclusion, as the linter's ``.lint`` file would state it: target-job-rule and
target-instance-rule skip selectors of recording rules (names with ``:``, the Prometheus
naming convention, e.g. ``slo:sli_error:ratio_rate5m``) and of ``ALERTS``: those series are
aggregated over every job and instance and carry neither label.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cryptopipe.dashboards.queries import panel_queries, panels, substitute
from cryptopipe.slo.promtool import find_promtool, run_check

Board = dict[str, Any]
Rule = Callable[[Board], list[str]]

# Grafana's unit ids used by dashboards like ours (a subset of Grafana's unit list).
VALID_UNITS = {
    "short", "none", "percent", "percentunit", "s", "ms", "µs", "ns", "m", "h", "d",
    "ops", "reqps", "rps", "wps", "bytes", "decbytes", "Bps", "currencyUSD", "dtdurations",
}  # fmt: skip
RATE_FUNCTIONS = ("rate", "irate", "increase")
COUNTER_SUFFIXES = ("_total", "_bucket", "_count", "_sum")
# what the linter substitutes for Grafana's own variables before parsing
LINT_VALUES: dict[str, str | list[str]] = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "job": ".+",
    "instance": ".+",
    "symbol": ".+",
    "datasource": "prometheus",
}
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or"}
_KEYWORDS |= {"unless", "offset", "inf", "nan"}
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_TOKEN = re.compile(r"([a-zA-Z_:][\w:]*)\s*(\{[^{}]*\})?(\s*\[[^\]]*\])?|\{[^{}]*\}")


@dataclass(frozen=True)
class Selector:
    name: str
    matchers: str  # "{...}" or ""
    range: str  # "[...]" or ""
    before: str  # the expression text before the selector


def selectors(expr: str) -> Iterator[Selector]:
    """The vector selectors of a PromQL expression (functions, keywords and grouping label
    lists left out)."""
    text = _GROUPING.sub(lambda m: " " * len(m.group(0)), expr)
    for m in _TOKEN.finditer(text):
        name = m.group(1)
        if not name or name.lower() in _KEYWORDS:
            continue
        if text[m.end(1) :].lstrip().startswith("(") and not m.group(2):
            continue  # a function call
        yield Selector(name, m.group(2) or "", (m.group(3) or "").strip(), text[: m.start()])


def _is_recording(name: str) -> bool:
    return ":" in name or name == "ALERTS"


def _prom_targets(board: Board) -> Iterator[tuple[str, str]]:
    for q in panel_queries(board):
        if q.kind == "promql":
            yield f"{q.panel} [{q.ref_id}]", q.text


def _query_variables(board: Board) -> Iterator[dict[str, Any]]:
    for v in board.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            yield v


def _variable(board: Board, name: str) -> dict[str, Any] | None:
    for v in board.get("templating", {}).get("list", []):
        if v.get("name") == name:
            found: dict[str, Any] = v
            return found
    return None


def template_datasource_rule(board: Board) -> list[str]:
    v = _variable(board, "datasource")
    if v is None:
        return ["is missing the datasource template"]
    problems = []
    if v.get("type") != "datasource" or v.get("query") != "prometheus":
        problems.append("datasource template should be a Prometheus datasource variable")
    if v.get("label") != "Data source":
        problems.append("datasource template should be labeled 'Data source'")
    return problems


def _check_template(board: Board, name: str) -> list[str]:
    v = _variable(board, name)
    if v is None:
        return [f"is missing the {name} template"]
    problems = []
    uid = (v.get("datasource") or {}).get("uid")
    if uid not in ("$datasource", "${datasource}"):
        problems.append(f"{name} template should use datasource '$datasource', is {uid!r}")
    if v.get("type") != "query":
        problems.append(f"{name} template should be a Prometheus query")
    if v.get("label") != name.title():
        problems.append(f"{name} template should be labeled {name.title()!r}")
    if not v.get("multi"):
        problems.append(f"{name} template should be a multi select")
    if v.get("allValue") != ".+":
        problems.append(f"{name} template allValue should be '.+'")
    return problems


def template_job_rule(board: Board) -> list[str]:
    return _check_template(board, "job")


def template_instance_rule(board: Board) -> list[str]:
    return _check_template(board, "instance")


_LABEL_VALUES = re.compile(r"^label_values\((.*),\s*([a-zA-Z_]\w*)\)$", re.S)


def _promtool_errors(exprs: list[str], promtool: str, tmp: Path) -> str:
    rules = [
        {"record": "dashboard_lint:check", "expr": substitute(e, LINT_VALUES, "promql")}
        for e in exprs
    ]
    path = tmp / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "lint", "rules": rules}]}))
    result = run_check(promtool, path)
    return "" if result.returncode == 0 else f"{result.stdout}{result.stderr}"


def promql_problems(exprs: dict[str, str]) -> list[str]:
    """What promtool says about each expression (variables substituted as the linter does):
    all in one rule file, then one by one to name the bad ones."""
    if not exprs:
        return []
    promtool = find_promtool()
    with tempfile.TemporaryDirectory(prefix="dashboard-lint-") as tmp:
        if not _promtool_errors(list(exprs.values()), promtool, Path(tmp)):
            return []
        problems = []
        for where, expr in exprs.items():
            errors = _promtool_errors([expr], promtool, Path(tmp))
            if errors:
                problems.append(f"{where}: invalid PromQL: {errors}")
        return problems


def template_label_promql_rule(board: Board) -> list[str]:
    exprs, problems = {}, []
    for v in _query_variables(board):
        if (v.get("datasource") or {}).get("type") != "prometheus":
            continue
        query = str(v.get("query", ""))
        m = _LABEL_VALUES.match(query.strip())
        if not m:
            problems.append(f"variable {v['name']}: not label_values(<PromQL>, <label>): {query}")
        else:
            exprs[f"variable {v['name']}"] = m.group(1)
    return problems + promql_problems(exprs)


def template_on_time_change_reload_rule(board: Board) -> list[str]:
    return [
        f"variable {v['name']} should refresh on time range change (refresh=2)"
        for v in _query_variables(board)
        if v.get("refresh") != 2
    ]


def panel_datasource_rule(board: Board) -> list[str]:
    problems = []
    for p in panels(board):
        uid = (p.get("datasource") or {}).get("uid", "")
        if not re.fullmatch(r"\$\{?\w+\}?", str(uid)):
            problems.append(f"panel {p.get('title')!r} does not use a templated datasource: {uid}")
    return problems


def panel_title_description_rule(board: Board) -> list[str]:
    problems = []
    for p in panels(board):
        if not str(p.get("title", "")).strip() or not str(p.get("description", "")).strip():
            problems.append(f"panel {p.get('id')} ({p.get('title')!r}) has no title or description")
    return problems


def panel_units_rule(board: Board) -> list[str]:
    problems = []
    for p in panels(board):
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
        if unit not in VALID_UNITS:
            problems.append(f"panel {p.get('title')!r} has no valid unit: {unit!r}")
    return problems


def panel_no_targets_rule(board: Board) -> list[str]:
    return [
        f"panel {p.get('title')!r} has no targets" for p in panels(board) if not p.get("targets")
    ]


def target_promql_rule(board: Board) -> list[str]:
    return promql_problems(dict(_prom_targets(board)))


def _enclosing_function(s: Selector) -> str | None:
    m = re.search(r"(\w+)\s*\(\s*$", s.before)
    return m.group(1) if m else None


def target_rate_interval_rule(board: Board) -> list[str]:
    problems = []
    for where, expr in _prom_targets(board):
        for s in selectors(expr):
            if _enclosing_function(s) in RATE_FUNCTIONS and s.range != "[$__rate_interval]":
                problems.append(f"{where}: {s.name}{s.range} should use $__rate_interval")
    return problems


def _matcher_rule(board: Board, label: str) -> list[str]:
    problems = []
    for where, expr in _prom_targets(board):
        for s in selectors(expr):
            if _is_recording(s.name):
                continue
            if not re.search(rf'\b{label}\s*=~\s*"\${label}"', s.matchers):
                problems.append(f'{where}: {s.name} has no {label}=~"${label}" matcher')
    return problems


def target_job_rule(board: Board) -> list[str]:
    return _matcher_rule(board, "job")


def target_instance_rule(board: Board) -> list[str]:
    return _matcher_rule(board, "instance")


def target_counter_agg_rule(board: Board) -> list[str]:
    problems = []
    for where, expr in _prom_targets(board):
        for s in selectors(expr):
            if not s.name.endswith(COUNTER_SUFFIXES):
                continue
            if not s.range or _enclosing_function(s) not in RATE_FUNCTIONS:
                problems.append(
                    f"{where}: counter {s.name} is not aggregated with rate, irate or increase"
                )
    return problems


RULES: dict[str, Rule] = {
    "template-datasource-rule": template_datasource_rule,
    "template-job-rule": template_job_rule,
    "template-instance-rule": template_instance_rule,
    "template-label-promql-rule": template_label_promql_rule,
    "template-on-time-change-reload-rule": template_on_time_change_reload_rule,
    "panel-datasource-rule": panel_datasource_rule,
    "panel-title-description-rule": panel_title_description_rule,
    "panel-units-rule": panel_units_rule,
    "panel-no-targets-rule": panel_no_targets_rule,
    "target-promql-rule": target_promql_rule,
    "target-rate-interval-rule": target_rate_interval_rule,
    "target-job-rule": target_job_rule,
    "target-instance-rule": target_instance_rule,
    "target-counter-agg-rule": target_counter_agg_rule,
}
