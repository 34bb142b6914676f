"""SLO overview: per SLO of slo/*.yaml the SLI now, objective, error budget remaining over the
period, burn rate per window and the burn alerts firing, on the Sloth-compatible recording rules
(observability/rules/slo-*.yml; the names and labels are owned by cryptopipe.slo.generate)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cryptopipe.dashboards.common import (
    base_variables,
    build,
    new_dashboard,
    row,
    stat_panel,
    table_panel,
    target,
    timeseries_panel,
)
from cryptopipe.slo import generate as rules
from cryptopipe.slo.spec import SLO, load

logger = logging.getLogger(__name__)

UID = "cryptopipe-slo"
SPEC_DIR = Path("slo")


def _sel(slo: SLO) -> str:
    return rules.selector(slo)


def slo_panels(slo: SLO) -> list[Any]:
    s = _sel(slo)
    by = "symbol " if "symbol" in (slo.error_query or "") else ""
    legend = "{{symbol}}" if by else slo.name
    burn = [
        target(
            f"{rules.SLI_ERROR_RATIO}{w}{s} / on (sloth_id, sloth_slo, sloth_service) "
            f"group_left {rules.ERROR_BUDGET}{s}",
            f"{w} {legend}".strip() if by else w,
        )
        for w in rules.SLI_WINDOWS
    ]
    burn.append(target(f"{rules.PERIOD_BURN}{s}", f"{slo.period} (period) {legend}".strip()))
    return [
        row(f"SLO {slo.name}: {slo.objective}% over {slo.period}"),
        stat_panel(
            f"{slo.name}: SLI now (5m)",
            f"{slo.description.strip()} Good share over the last 5 minutes "
            f"(1 - {rules.SLI_ERROR_RATIO}5m).",
            "percentunit",
            target(f"1 - {rules.SLI_ERROR_RATIO}5m{s}", legend, instant=True),
        ),
        stat_panel(
            f"{slo.name}: objective",
            f"The objective of the {slo.name} SLO ({rules.OBJECTIVE}).",
            "percentunit",
            target(f"{rules.OBJECTIVE}{s}", slo.name, instant=True),
            width=4,
        ),
        stat_panel(
            f"{slo.name}: error budget remaining ({slo.period})",
            f"Share of the {slo.period} error budget not spent yet "
            f"({rules.BUDGET_REMAINING}); below 0 the SLO is missed for the period.",
            "percentunit",
            target(f"{rules.BUDGET_REMAINING}{s}", legend, instant=True),
        ),
        stat_panel(
            f"{slo.name}: burn alerts firing",
            f"{slo.alerting.name} alerts firing now (page and ticket); 0 when none fires "
            "(docs/alerting.md).",
            "short",
            target(
                f'count(ALERTS{{alertname="{slo.alerting.name}", alertstate="firing"}}) '
                "or vector(0)",
                "firing",
                instant=True,
            ),
            width=8,
        ),
        timeseries_panel(
            f"{slo.name}: burn rate per window",
            "Error ratio over each window divided by the error budget: 1 spends the budget "
            "exactly in the period; the page alerts fire at 14.4 (1h and 5m) and 6 (6h and 30m), "
            "the tickets at 3 (1d and 2h) and 1 (3d and 6h).",
            "short",
            *burn,
            width=24,
        ),
    ]


def overview_panels() -> list[Any]:
    return [
        row("All SLOs"),
        table_panel(
            "Error budget remaining per SLO",
            "Every SLO of the service with the share of its period's error budget left "
            f"({rules.BUDGET_REMAINING}, one row per SLO and symbol).",
            "percentunit",
            target(
                f'{rules.BUDGET_REMAINING}{{sloth_service="cryptopipe"}}',
                "{{sloth_slo}} {{symbol}}",
                instant=True,
            ),
        ),
    ]


def dashboard(spec_dir: Path = SPEC_DIR) -> dict[str, Any]:
    specs = load([spec_dir])
    items: list[Any] = overview_panels()
    for slo in specs.slos:
        items += slo_panels(slo)
    board = new_dashboard(
        UID,
        "cryptopipe / SLOs",
        "The pipeline's SLOs on the Sloth-compatible recording rules (docs/slo.md)",
    )
    for variable in base_variables():
        board = board.with_variable(variable)
    return build(board, items)
