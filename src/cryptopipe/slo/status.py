"""`cryptopipe slo status`: each SLO's state, read from the generated recordings on Prometheus."""

from __future__ import annotations

import json
import logging
import math
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptopipe.slo.generate import (
    BUDGET_REMAINING,
    ERROR_BUDGET,
    SLI_ERROR_RATIO,
    SLI_WINDOWS,
    SLO_INFO,
)
from cryptopipe.stack.prometheus import url as local_url
from cryptopipe.stack.settings import StackSettings

logger = logging.getLogger(__name__)

QUERY_TIMEOUT_S = 10.0
_SKIP = {"__name__", "sloth_window", "sloth_severity"}


class StatusError(RuntimeError):
    pass


def prometheus_base_url(stack: StackSettings) -> str:
    """The local stack's Prometheus (its port from CRYPTOPIPE_PROMETHEUS_PORT or the default)."""
    return local_url(stack.prometheus_port)


def query(base_url: str, promql: str, at: float | None = None) -> list[dict[str, Any]]:
    """An instant query (now, or at epoch seconds ``at``); the result's vector samples."""
    params = {"query": promql} if at is None else {"query": promql, "time": f"{at:.3f}"}
    target = f"{base_url.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(target, timeout=QUERY_TIMEOUT_S) as resp:
            body = json.load(resp)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise StatusError(f"cannot query Prometheus at {base_url}: {exc}") from exc
    if body.get("status") != "success":
        raise StatusError(f"Prometheus refused {promql!r}: {body.get('error')}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _value(sample: dict[str, Any]) -> float:
    return float(sample["value"][1])


@dataclass
class SLOStatus:
    """One SLO (one series of it, e.g. one symbol): the SLI now and its budget."""

    slo_id: str
    service: str
    slo: str
    objective_percent: float
    labels: dict[str, str] = field(default_factory=dict)
    sli_percent: float | None = None  # 1 - error ratio over 5m, as a percentage
    budget_remaining_percent: float | None = None
    burn_rate: dict[str, float | None] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def fetch_status(base_url: str) -> list[SLOStatus]:
    infos = query(base_url, SLO_INFO)
    if not infos:
        raise StatusError(
            f"no SLOs on {base_url}: sloth_slo_info is empty (are the slo-*.yml rules loaded?)"
        )
    info_labels = {s["metric"]["sloth_id"]: s["metric"] for s in infos}
    budgets = {s["metric"]["sloth_id"]: _value(s) for s in query(base_url, ERROR_BUDGET)}
    ratios = query(base_url, f'{{__name__=~"{SLI_ERROR_RATIO}.+"}}')
    remaining = query(base_url, BUDGET_REMAINING)

    rows: dict[tuple[str, tuple[tuple[str, str], ...]], SLOStatus] = {}

    def row(metric: dict[str, str]) -> SLOStatus | None:
        slo_id = metric.get("sloth_id", "")
        info = info_labels.get(slo_id)
        if info is None:
            return None
        extra = tuple(sorted((k, v) for k, v in metric.items() if k not in _SKIP and k not in info))
        key = (slo_id, extra)
        if key not in rows:
            rows[key] = SLOStatus(
                slo_id=slo_id,
                service=info["sloth_service"],
                slo=info["sloth_slo"],
                objective_percent=float(info["sloth_objective"]),
                labels=dict(extra),
            )
        return rows[key]

    for sample in ratios:
        r = row(sample["metric"])
        if r is None:
            continue
        window = sample["metric"].get("sloth_window", "")
        ratio = _value(sample)
        budget = budgets.get(r.slo_id)
        r.burn_rate[window] = _finite(ratio / budget) if budget else None
        if window == "5m":
            r.sli_percent = _finite((1 - ratio) * 100)
    for sample in remaining:
        r = row(sample["metric"])
        if r is not None:
            r.budget_remaining_percent = _finite(_value(sample) * 100)
    order = [*SLI_WINDOWS]
    for r in rows.values():
        order.extend(w for w in r.burn_rate if w not in order)
        r.burn_rate = {w: r.burn_rate[w] for w in order if w in r.burn_rate}
    for slo_id in info_labels:  # an SLO with no SLI series at all is shown, not hidden
        if not any(k[0] == slo_id for k in rows):
            row({"sloth_id": slo_id})
    return sorted(rows.values(), key=lambda r: (r.slo_id, sorted(r.labels.items())))


def _fmt(value: float | None, unit: str = "", digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def render_table(rows: list[SLOStatus]) -> str:
    windows: list[str] = []
    for r in rows:
        windows.extend(w for w in r.burn_rate if w not in windows)
    header = [
        "SLO",
        "LABELS",
        "SLI(5m)",
        "OBJECTIVE",
        "BUDGET LEFT",
        *[f"BURN {w}" for w in windows],
    ]
    lines = [header]
    for r in rows:
        lines.append(
            [
                r.slo_id,
                ",".join(f"{k}={v}" for k, v in r.labels.items()) or "-",
                _fmt(r.sli_percent, "%"),
                f"{r.objective_percent:g}%",
                _fmt(r.budget_remaining_percent, "%", 1),
                *[_fmt(r.burn_rate.get(w), "x", 2) for w in windows],
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )
