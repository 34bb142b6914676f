"""Pure functions: SLO specs -> Prometheus rule groups, with Sloth's rule names and labels.

Per SLO, three groups as Sloth writes them (so the community Sloth dashboards work unchanged):
``sloth-slo-sli-recordings-<id>`` (``slo:sli_error:ratio_rate<w>`` for every window and the
period), ``sloth-slo-meta-recordings-<id>`` (objective, budget, burn rates, ``sloth_slo_info``)
and ``sloth-slo-alerts-<id>`` (one page and one ticket multi-window, multi-burn-rate alert).

Where we differ from Sloth, on purpose (each is an old Sloth issue):
- events SLIs also record their error and total events per window
  (``slo:sli_error_events:rate<w>``, ``slo:sli_total_events:rate<w>``; sloth#526);
- a window with no events (a quiet symbol) reads 0 errors, not NaN (0/0; sloth#133), and a
  missing error series next to a present total (a counter never incremented) reads 0 too;
- the period ratio is weighted by traffic: the period's errors over its totals, from the
  recorded 5m events, instead of an average of 5m ratios (sloth#241);
- periods 7d, 28d and 30d with the Workbook's burn factors (sloth#96), and objective 100 is
  refused by the spec loader (sloth#749).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import yaml

from cryptopipe import __version__
from cryptopipe.slo.promtool import render
from cryptopipe.slo.spec import SLO, HelperRules, SpecSet

logger = logging.getLogger(__name__)

SLI_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
SLOTH_MODE = "cli-gen-prom"
GENERATOR_VERSION = f"cryptopipe-{__version__}"
RUNBOOK_DIR = "docs/runbooks"

# Metric names of the generated recordings: Sloth's, plus our events recordings.
SLI_ERROR_RATIO = "slo:sli_error:ratio_rate"
SLI_ERROR_EVENTS = "slo:sli_error_events:rate"
SLI_TOTAL_EVENTS = "slo:sli_total_events:rate"
OBJECTIVE = "slo:objective:ratio"
ERROR_BUDGET = "slo:error_budget:ratio"
TIME_PERIOD = "slo:time_period:days"
CURRENT_BURN = "slo:current_burn_rate:ratio"
PERIOD_BURN = "slo:period_burn_rate:ratio"
BUDGET_REMAINING = "slo:period_error_budget_remaining:ratio"
SLO_INFO = "sloth_slo_info"


@dataclass(frozen=True)
class BurnWindow:
    """One alert condition: both windows' error ratio above ``factor`` x budget."""

    factor: float
    long: str
    short: str
    budget_share: float  # of the 30 d budget spent when it fires at exactly the factor


# The SRE Workbook's table ("Alerting on SLOs", recommended parameters).
PAGE_WINDOWS = (BurnWindow(14.4, "1h", "5m", 0.02), BurnWindow(6, "6h", "30m", 0.05))
TICKET_WINDOWS = (BurnWindow(3, "1d", "2h", 0.10), BurnWindow(1, "3d", "6h", 0.10))
SEVERITIES = {"page": PAGE_WINDOWS, "ticket": TICKET_WINDOWS}


def num(value: float) -> str:
    """A float as Go's strconv 'f', -1 prints it (what Sloth writes): 14.4, 6, 0.995."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def objective_ratio(slo: SLO) -> str:
    return num(slo.objective / 100)


def error_budget_ratio(slo: SLO) -> str:
    return num((100 - slo.objective) / 100)


def period_days(period: str) -> int:
    return int(period.removesuffix("d"))


def sloth_labels(slo: SLO) -> dict[str, str]:
    return {"sloth_id": slo.id, "sloth_service": slo.service, "sloth_slo": slo.name}


def selector(slo: SLO) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sloth_labels(slo).items())
    return "{" + inner + "}"


def _labels(*parts: dict[str, str]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for part in parts:
        merged.update(part)
    return dict(sorted(merged.items()))


def _zero_safe_ratio(errors: str, total: str) -> str:
    """errors / total, with 0 (not NaN) where total is 0."""
    return f"({errors})\n/\n(({total}) > 0)\nor\n(({total}) == 0)\n"


def sli_group(slo: SLO) -> dict[str, Any]:
    sel = selector(slo)
    rules: list[dict[str, Any]] = []

    def labels(window: str) -> dict[str, str]:
        return _labels(slo.labels, sloth_labels(slo), {"sloth_window": window})

    for window in SLI_WINDOWS:
        if slo.is_events:
            assert slo.error_query is not None and slo.total_query is not None
            error_q = render(slo.error_query, window)
            total_q = render(slo.total_query, window)
            rules.append(
                {
                    "record": f"{SLI_ERROR_EVENTS}{window}",
                    "expr": f"({error_q})\nor\n(({total_q}) * 0)\n",
                    "labels": labels(window),
                }
            )
            rules.append(
                {
                    "record": f"{SLI_TOTAL_EVENTS}{window}",
                    "expr": f"{total_q}\n",
                    "labels": labels(window),
                }
            )
            expr = _zero_safe_ratio(
                f"{SLI_ERROR_EVENTS}{window}{sel}", f"{SLI_TOTAL_EVENTS}{window}{sel}"
            )
        else:
            assert slo.error_ratio_query is not None
            expr = f"({render(slo.error_ratio_query, window)})\n"
        rules.append(
            {"record": f"{SLI_ERROR_RATIO}{window}", "expr": expr, "labels": labels(window)}
        )

    p = slo.period
    if slo.is_events:
        expr = _zero_safe_ratio(
            f"sum_over_time({SLI_ERROR_EVENTS}5m{sel}[{p}])",
            f"sum_over_time({SLI_TOTAL_EVENTS}5m{sel}[{p}])",
        )
    else:  # no traffic to weigh by: the average of the 5m ratios, as Sloth does
        expr = (
            f"sum_over_time({SLI_ERROR_RATIO}5m{sel}[{p}])\n"
            f"/ ignoring (sloth_window)\n"
            f"count_over_time({SLI_ERROR_RATIO}5m{sel}[{p}])\n"
        )
    rules.append({"record": f"{SLI_ERROR_RATIO}{p}", "expr": expr, "labels": labels(p)})
    return {"name": f"sloth-slo-sli-recordings-{slo.id}", "rules": rules}


def meta_group(slo: SLO) -> dict[str, Any]:
    sel = selector(slo)
    labels = _labels(slo.labels, sloth_labels(slo))
    info = _labels(
        labels,
        {
            "sloth_mode": SLOTH_MODE,
            "sloth_objective": num(slo.objective),
            "sloth_spec": slo.spec_format,
            "sloth_version": GENERATOR_VERSION,
        },
    )
    on = "/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
    rules = [
        {"record": OBJECTIVE, "expr": f"vector({objective_ratio(slo)})", "labels": labels},
        {"record": ERROR_BUDGET, "expr": f"vector(1-{objective_ratio(slo)})", "labels": labels},
        {"record": TIME_PERIOD, "expr": f"vector({period_days(slo.period)})", "labels": labels},
        {
            "record": CURRENT_BURN,
            "expr": f"{SLI_ERROR_RATIO}5m{sel}\n{on}{ERROR_BUDGET}{sel}\n",
            "labels": labels,
        },
        {
            "record": PERIOD_BURN,
            "expr": f"{SLI_ERROR_RATIO}{slo.period}{sel}\n{on}{ERROR_BUDGET}{sel}\n",
            "labels": labels,
        },
        {"record": BUDGET_REMAINING, "expr": f"1 - {PERIOD_BURN}{sel}", "labels": labels},
        {"record": SLO_INFO, "expr": "vector(1)", "labels": info},
    ]
    return {"name": f"sloth-slo-meta-recordings-{slo.id}", "rules": rules}


def alert_expr(slo: SLO, windows: Iterable[BurnWindow]) -> str:
    sel = selector(slo)
    budget = error_budget_ratio(slo)
    blocks = []
    for w in windows:
        threshold = f"({num(w.factor)} * {budget})"
        short = f"max({SLI_ERROR_RATIO}{w.short}{sel} > {threshold}) without (sloth_window)"
        long = f"max({SLI_ERROR_RATIO}{w.long}{sel} > {threshold}) without (sloth_window)"
        blocks.append(f"(\n    {short}\n    and\n    {long}\n)")
    return "\nor\n".join(blocks) + "\n"


def runbook_url(alert_name: str) -> str:
    return f"{RUNBOOK_DIR}/{alert_name}.md"


def alert_group(slo: SLO) -> dict[str, Any] | None:
    a = slo.alerting
    rules = []
    for severity, level in (("page", a.page), ("ticket", a.ticket)):
        if not level.enabled:
            continue
        labels = _labels(
            {"severity": severity, "slo": slo.name, "service": slo.service},
            a.labels,
            level.labels,
            {"sloth_severity": severity},
        )
        annotations = _labels(
            {
                "summary": (
                    "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn "
                    "rate is over expected."
                ),
                "title": (
                    f"({severity}) {{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}} SLO "
                    "error budget burn rate is too fast."
                ),
                "runbook_url": runbook_url(a.name),
            },
            a.annotations,
            level.annotations,
        )
        rules.append(
            {
                "alert": a.name,
                "expr": alert_expr(slo, SEVERITIES[severity]),
                "labels": labels,
                "annotations": annotations,
            }
        )
    if not rules:
        return None
    return {"name": f"sloth-slo-alerts-{slo.id}", "rules": rules}


def helper_groups(helpers: HelperRules) -> list[dict[str, Any]]:
    out = []
    for group in helpers.groups:
        rendered: dict[str, Any] = {"name": group.name}
        if group.interval:
            rendered["interval"] = group.interval
        rendered["rules"] = [
            {"record": r.record, "expr": r.expr, **({"labels": dict(r.labels)} if r.labels else {})}
            for r in group.rules
        ]
        out.append(rendered)
    return out


def slo_groups(slo: SLO) -> list[dict[str, Any]]:
    groups = [sli_group(slo), meta_group(slo)]
    alerts = alert_group(slo)
    if alerts is not None:
        groups.append(alerts)
    return groups


def service_groups(spec_set: SpecSet, service: str) -> list[dict[str, Any]]:
    """All rule groups of one service: its helper recordings first, then each SLO's groups."""
    groups: list[dict[str, Any]] = []
    for helpers in spec_set.helpers:
        if helpers.service == service:
            groups.extend(helper_groups(helpers))
    for slo in spec_set.slos:
        if slo.service == service:
            groups.extend(slo_groups(slo))
    return groups


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def header(service: str, sources: Iterable[str]) -> str:
    names = ", ".join(sorted(set(sources)))
    return (
        f"# generated by cryptopipe slo generate, do not edit: change the specs ({names})\n"
        f"# and run `cryptopipe slo generate`. Service {service!r}.\n"
    )


def render_service(spec_set: SpecSet, service: str) -> str:
    """The text of observability/rules/slo-<service>.yml."""
    items: list[SLO | HelperRules] = [*spec_set.slos, *spec_set.helpers]
    sources = [PurePath(s.source).name for s in items if s.service == service]
    body = yaml.dump(
        {"groups": service_groups(spec_set, service)},
        Dumper=_Dumper,
        sort_keys=False,
        width=4096,
        default_flow_style=False,
    )
    return header(service, sources) + body


def output_name(service: str) -> str:
    return f"slo-{service}.yml"


def render_all(spec_set: SpecSet) -> dict[str, str]:
    """File name -> text, one rule file per service."""
    return {output_name(s): render_service(spec_set, s) for s in spec_set.services()}
