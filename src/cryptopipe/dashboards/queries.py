"""The queries of the generated dashboards, as Grafana would send them.

``panel_queries`` reads every target of every panel (and of every query variable) from the
dashboard JSON; ``substitute`` replaces dashboard variables (``$job``, ``${datasource}``);
``expand_mysql_macros`` expands Grafana's MySQL macros the way Grafana's MySQL datasource does
(``$__timeFilter(col)`` -> ``col BETWEEN FROM_UNIXTIME(a) AND FROM_UNIXTIME(b)``,
``$__timeGroup(col, 5m)`` -> ``UNIX_TIMESTAMP(col) DIV 300 * 300``, ...). The live-data test and
the report read the dashboards through these, so neither keeps a second copy of a query.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

logger = logging.getLogger(__name__)

Kind = Literal["promql", "sql"]


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str  # the panel's title (or "variable <name>")
    ref_id: str
    kind: Kind
    text: str
    exemplar: bool = False


def _kind(datasource: Any) -> Kind | None:
    kind = datasource.get("type") if isinstance(datasource, dict) else None
    if kind == "prometheus":
        return "promql"
    if kind == "mysql":
        return "sql"
    return None


def panels(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that is not a row (rows' nested panels included)."""
    for panel in board.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def panel_queries(board: Mapping[str, Any]) -> list[PanelQuery]:
    found = []
    title = str(board.get("title", ""))
    for panel in panels(board):
        for t in panel.get("targets", []):
            kind = _kind(t.get("datasource") or panel.get("datasource"))
            text = t.get("expr") if kind == "promql" else t.get("rawSql")
            if kind and text:
                found.append(
                    PanelQuery(
                        title,
                        str(panel.get("title", "")),
                        str(t.get("refId", "")),
                        kind,
                        str(text),
                        bool(t.get("exemplar")),
                    )
                )
    return found


def variable_queries(board: Mapping[str, Any]) -> list[PanelQuery]:
    """The queries of the query variables (PromQL label_values(...) or SQL)."""
    found = []
    for v in board.get("templating", {}).get("list", []):
        kind = _kind(v.get("datasource"))
        if v.get("type") == "query" and kind and isinstance(v.get("query"), str):
            found.append(
                PanelQuery(str(board.get("title")), f"variable {v['name']}", "", kind, v["query"])
            )
    return found


_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def format_value(value: str | list[str], kind: Kind) -> str:
    """A variable's value as Grafana writes it into a query: a multi-value selection becomes a
    regex alternation in PromQL (``(A|B)``) and a quoted list in SQL (``'A','B'``)."""
    if isinstance(value, str):
        return value
    if kind == "promql":  # regex-escaped, and the escapes escaped for the PromQL string
        return "(" + "|".join(re.escape(v).replace("\\", "\\\\") for v in value) + ")"
    return ",".join("'" + v.replace("'", "''") + "'" for v in value)


def substitute(text: str, values: Mapping[str, str | list[str]], kind: Kind) -> str:
    """Replace ``$name`` / ``${name}`` by ``values[name]``; unknown names (e.g. Grafana's own
    ``$__rate_interval`` when not given) are left as they are."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return format_value(values[name], kind) if name in values else m.group(0)

    return _VAR.sub(one, text)


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w)$")


def interval_seconds(text: str) -> float:
    """A Grafana interval ('5m', "'1h'", '30s') in seconds."""
    m = _DURATION.match(text.strip().strip("'\""))
    if not m:
        raise ValueError(f"not a Grafana interval: {text!r}")
    return int(m.group(1)) * _UNITS[m.group(2)]


def _num(seconds: float) -> str:
    return f"{seconds:.0f}" if seconds >= 1 else f"{seconds}"


_MACRO = re.compile(r"\$__(\w+)\(([^()]*)\)")


def expand_mysql_macros(sql: str, start_s: int, end_s: int) -> str:
    """Expand Grafana's MySQL macros for the time range [start_s, end_s] (Unix seconds).

    Global variables such as ``$__interval`` must be substituted before."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        args = [a.strip() for a in m.group(2).split(",")] if m.group(2).strip() else []
        if name in ("time", "timeEpoch"):
            return f"UNIX_TIMESTAMP({args[0]}) as time_sec"
        if name == "timeFilter":
            return f"{args[0]} BETWEEN FROM_UNIXTIME({start_s}) AND FROM_UNIXTIME({end_s})"
        if name == "timeFrom":
            return f"FROM_UNIXTIME({start_s})"
        if name == "timeTo":
            return f"FROM_UNIXTIME({end_s})"
        if name == "unixEpochFilter":
            return f"{args[0]} >= {start_s} AND {args[0]} <= {end_s}"
        if name == "unixEpochFrom":
            return str(start_s)
        if name == "unixEpochTo":
            return str(end_s)
        if name in ("timeGroup", "timeGroupAlias"):
            step = _num(interval_seconds(args[1]))
            group = f"UNIX_TIMESTAMP({args[0]}) DIV {step} * {step}"
            return group + (' AS "time"' if name == "timeGroupAlias" else "")
        if name in ("unixEpochGroup", "unixEpochGroupAlias"):
            step = _num(interval_seconds(args[1]))
            group = f"{args[0]} DIV {step} * {step}"
            return group + (' AS "time"' if name == "unixEpochGroupAlias" else "")
        raise ValueError(f"unknown Grafana MySQL macro $__{name}")

    return _MACRO.sub(one, sql)
