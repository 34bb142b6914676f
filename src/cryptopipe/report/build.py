"""Every panel of the generated dashboards turned into a drawn result (data, PNG or why not).

The panels and their queries are read from dashboards/*.json (``dashboards.queries``), so the
report shows what the dashboards show. The SLO overview also becomes one table: per SLO the SLI
now, objective, budget remaining, burn rate per window and alerts firing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from cryptopipe.dashboards.queries import panels, variable_queries
from cryptopipe.report import plots
from cryptopipe.report.fetch import FetchError, MySQL, Prometheus, Series, numeric

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass
class Drawn:
    dashboard: str
    title: str
    description: str
    png: bytes | None = None
    note: str = ""  # why there is no image (no data, query failed)

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", f"{self.dashboard} {self.title}".lower()).strip("-")


@dataclass
class SloRow:
    slo: str
    series: str
    values: dict[str, float] = field(default_factory=dict)  # column -> value
    burn: dict[str, float] = field(default_factory=dict)  # window -> burn rate


def _unit(panel: Mapping[str, Any]) -> str | None:
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
    return str(unit) if unit else None


def _prom_series(prom: Prometheus, panel: Mapping[str, Any], instant: bool) -> list[Series]:
    out: list[Series] = []
    for t in panel.get("targets", []):
        expr, fmt, ref = prom.promql(t["expr"]), t.get("legendFormat"), t.get("refId", "")
        out += prom.instant(expr, fmt, ref) if instant else prom.range(expr, fmt, ref)
    return out


def _sql_series(mysql: MySQL, text: str, values: dict[str, str | list[str]]) -> list[Series]:
    """Grafana's time_series format: a time column, an optional ``metric`` column, values."""
    result = mysql.run(mysql.sql(text, values))
    cols = result.columns
    t_col = cols.index("time")
    by_name: dict[str, Series] = {}
    for row in result.rows:
        metric = str(row[cols.index("metric")]) if "metric" in cols else ""
        for i, col in enumerate(cols):
            if i == t_col or col == "metric":
                continue
            name = f"{metric} {col}".strip() if "metric" in cols else col
            s = by_name.setdefault(name, Series(name, {"metric": metric}))
            s.times.append(numeric(row[t_col]))
            s.values.append(numeric(row[i]))
    return list(by_name.values())


def _draw(kind: str, title: str, unit: str | None, series: list[Series]) -> bytes:
    if kind == "heatmap":
        return plots.heatmap(title, series)
    if kind in ("stat", "table"):
        return plots.bars(title, unit, series)
    return plots.timeseries(title, unit, series)


def _market_values(mysql: MySQL, board: Mapping[str, Any]) -> dict[str, list[str]]:
    """The symbol and interval variables' values, from the dashboard's own variable queries."""
    return {
        q.panel.removeprefix("variable "): mysql.column(q.text)
        for q in variable_queries(board)
        if q.kind == "sql"
    }


def _interval(values: Mapping[str, list[str]]) -> str:
    """The bar interval the report draws: 1m when MySQL has it, else the first there is."""
    intervals = values.get("interval", [])
    return "1m" if "1m" in intervals or not intervals else intervals[0]


def _candles(
    mysql: MySQL, dashboard: str, panel: Mapping[str, Any], symbol: str, interval: str
) -> Drawn:
    title = str(panel["title"]).replace("$symbol", symbol).replace("$interval", interval)
    drawn = Drawn(dashboard, title, str(panel.get("description", "")))
    result = mysql.run(
        mysql.sql(panel["targets"][0]["rawSql"], {"symbol": [symbol], "interval": interval})
    )
    cols = result.columns
    if not result.rows:
        drawn.note = f"no {interval} candles for {symbol} in this range"
        return drawn
    pick = [cols.index(c) for c in ("open", "high", "low", "close")]
    times = [r[cols.index("time")].replace(tzinfo=UTC).timestamp() for r in result.rows]
    ohlc = [tuple(numeric(r[i]) for i in pick) for r in result.rows]
    drawn.png = plots.candles(title, times, ohlc)  # type: ignore[arg-type]
    return drawn


def draw_board(
    name: str, board: Mapping[str, Any], prom: Prometheus, mysql: MySQL, progress: Progress
) -> Iterator[Drawn]:
    dashboard = str(board.get("title", name))
    values: dict[str, list[str]] = {}
    for panel in panels(board):
        kind, title = str(panel.get("type")), str(panel.get("title"))
        progress(f"{dashboard} / {title}")
        is_sql = any("rawSql" in t for t in panel.get("targets", []))
        try:
            if is_sql and not values:
                values = _market_values(mysql, board)
            if kind == "candlestick":
                # one chart per symbol that has candles in the range: a symbol that traded
                # once, long ago, is named on stderr instead of drawn as an empty chart
                symbols, interval = values.get("symbol", []), _interval(values)
                charts = [_candles(mysql, dashboard, panel, sym, interval) for sym in symbols]
                yield from (c for c in charts if c.png)
                idle = [sym for sym, c in zip(symbols, charts, strict=True) if not c.png]
                if idle:
                    progress(f"{dashboard}: no {interval} candles in range for {', '.join(idle)}")
                if len(idle) == len(charts):
                    note = "no candles in MySQL" if not symbols else "no candles in this range"
                    yield Drawn(dashboard, title, "", note=note)
                continue
            drawn = Drawn(dashboard, title, str(panel.get("description", "")))
            series: list[Series] = []
            if is_sql and not values.get("symbol"):
                drawn.note = "no candles in MySQL yet (no symbol to show)"
            elif is_sql:
                picked: dict[str, str | list[str]] = {
                    "symbol": values.get("symbol", []),
                    "interval": _interval(values),
                }
                series = _sql_series(mysql, panel["targets"][0]["rawSql"], picked)
            else:
                series = _prom_series(prom, panel, instant=kind in ("stat", "table"))
            if series:
                drawn.png = _draw(kind, title, _unit(panel), series)
            elif not drawn.note:
                drawn.note = "no data in this time range (no series matched)"
        except FetchError as exc:
            drawn = Drawn(dashboard, title, str(panel.get("description", "")))
            drawn.note = f"query failed: {exc}"
            logger.warning("panel %s / %s: %s", dashboard, title, exc)
        yield drawn


SLO_COLUMNS = {
    "SLI now (5m)": "SLI now",
    "objective": "objective",
    "error budget remaining (30d)": "budget remaining",
    "burn alerts firing": "alerts firing",
}


def slo_table(board: Mapping[str, Any], prom: Prometheus) -> list[SloRow]:
    """One row per SLO (and symbol, for per-symbol SLOs) from the SLO overview's panels."""
    rows: dict[tuple[str, str], SloRow] = {}

    def row(slo: str, s: Series) -> SloRow:
        key = s.labels.get("symbol", "")
        return rows.setdefault((slo, key), SloRow(slo, key))

    for panel in panels(board):
        slo, _, what = str(panel.get("title", "")).partition(": ")
        if what in SLO_COLUMNS:
            for s in _prom_series(prom, panel, instant=True):
                if what in {"objective", "burn alerts firing"}:
                    for r in [r for (name, _k), r in rows.items() if name == slo] or [row(slo, s)]:
                        r.values[SLO_COLUMNS[what]] = s.values[-1]
                else:
                    row(slo, s).values[SLO_COLUMNS[what]] = s.values[-1]
        elif what == "burn rate per window":
            for t in panel.get("targets", []):
                window = str(t.get("legendFormat", "")).split("{{")[0].strip()
                window = window.removesuffix(slo).strip()
                for s in prom.instant(prom.promql(t["expr"]), t.get("legendFormat"), t["refId"]):
                    row(slo, s).burn[window] = s.values[-1]
    return sorted(rows.values(), key=lambda r: (r.slo, r.series))
