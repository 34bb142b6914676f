"""Fetch the data of every dashboard panel: Prometheus ``query_range`` and MySQL (the I/O edge).

The queries come from the generated dashboards through ``cryptopipe.dashboards.queries``; this
module only substitutes the variables the way Grafana would for "All" and asks the servers.
"""

from __future__ import annotations

import json
import logging
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pymysql

from cryptopipe.dashboards.queries import expand_mysql_macros, interval_seconds, substitute
from cryptopipe.stack.prometheus import SCRAPE_INTERVAL

logger = logging.getLogger(__name__)

TIMEOUT_S = 30.0
POINTS = 240  # samples per series over the range, about what a Grafana panel asks for


@dataclass(frozen=True)
class Window:
    start: int  # Unix seconds
    end: int

    @property
    def step(self) -> int:
        return max(int(interval_seconds(SCRAPE_INTERVAL)), (self.end - self.start) // POINTS)

    def rate_interval(self) -> str:
        """Grafana's ``$__rate_interval``: max(4 x scrape interval, step + scrape interval)."""
        scrape = int(interval_seconds(SCRAPE_INTERVAL))
        return f"{max(4 * scrape, self.step + scrape)}s"


@dataclass
class Series:
    name: str  # the target's legend, labels filled in
    labels: dict[str, str]
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


@dataclass
class Rows:
    columns: list[str]
    rows: list[tuple[Any, ...]]


class FetchError(Exception):
    pass


def legend(fmt: str | None, labels: dict[str, str], fallback: str) -> str:
    """Grafana's legendFormat: ``{{label}}`` filled from the series' labels."""
    if not fmt:
        return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or fallback
    out = fmt
    for key, value in labels.items():
        out = out.replace("{{" + key + "}}", value)
    while "{{" in out and "}}" in out:  # a label the series does not have: dropped
        a = out.index("{{")
        out = out[:a] + out[out.index("}}", a) + 2 :]
    return out.strip() or fallback


def get_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise FetchError(
            f"{url.split('?', maxsplit=1)[0]}: HTTP {exc.code}: {exc.read()[:300]!r}"
        ) from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise FetchError(f"cannot reach {url.split('?', maxsplit=1)[0]}: {exc}") from exc


class Prometheus:
    def __init__(self, base_url: str, window: Window) -> None:
        self.base = base_url.rstrip("/")
        self.window = window

    def variables(self) -> dict[str, str | list[str]]:
        """Every variable as "All" (a regex), Grafana's interval variables for this window."""
        w = self.window
        return {
            "job": "cryptopipe-.*",
            "instance": ".+",
            "symbol": ".+",
            "datasource": "prometheus",
            "__rate_interval": w.rate_interval(),
            "__interval": f"{w.step}s",
        }

    def _ask(self, path: str, params: dict[str, Any], fmt: str | None, ref: str) -> list[Series]:
        """Every finite sample of every series Prometheus returns (matrix or vector)."""
        data = get_json(f"{self.base}{path}?{urllib.parse.urlencode(params)}")
        if data.get("status") != "success":
            raise FetchError(f"Prometheus refused {params['query']}: {data}")
        out = []
        for r in data["data"]["result"]:
            labels = {k: v for k, v in r["metric"].items() if k != "__name__"}
            s = Series(legend(fmt, labels, ref), labels)
            for t, v in r.get("values") or [r["value"]]:
                if math.isfinite(float(v)):
                    s.times.append(float(t))
                    s.values.append(float(v))
            if s.values:
                out.append(s)
        return out

    def range(self, promql: str, fmt: str | None, ref: str) -> list[Series]:
        w = self.window
        params = {"query": promql, "start": w.start, "end": w.end, "step": w.step}
        return self._ask("/api/v1/query_range", params, fmt, ref)

    def instant(self, promql: str, fmt: str | None, ref: str) -> list[Series]:
        return self._ask("/api/v1/query", {"query": promql, "time": self.window.end}, fmt, ref)

    def promql(self, expr: str) -> str:
        return substitute(expr, self.variables(), "promql")


Query = Callable[[str], Rows]


class MySQL:
    """SQL panels through ``run`` (a function executing one statement and returning its rows)."""

    def __init__(self, run: Query, window: Window) -> None:
        self.run = run
        self.window = window

    def sql(self, text: str, values: dict[str, str | list[str]]) -> str:
        w = self.window
        all_values = {"__interval": f"{w.step}s", "mysql": "mysql", **values}
        return expand_mysql_macros(substitute(text, all_values, "sql"), w.start, w.end)

    def column(self, text: str) -> list[str]:
        """A variable query's values (first column)."""
        return [str(r[0]) for r in self.run(text).rows]


def numeric(value: Any) -> float:
    """A SQL value as a float for plotting (prices stay Decimal in the database and the table)."""
    if isinstance(value, Decimal | int | float):
        return float(value)
    raise FetchError(f"not a number: {value!r}")


def pymysql_runner(connect: Callable[[], Any]) -> Query:
    """A ``Query`` on connections from ``connect`` (UTC session, as the Grafana datasource)."""

    def run(sql: str) -> Rows:
        try:
            conn = connect()
        except pymysql.err.MySQLError as exc:
            raise FetchError(f"cannot connect to MySQL: {exc}") from exc
        try:
            with conn.cursor() as cur:
                cur.execute("SET time_zone = '+00:00'")
                cur.execute(sql)
                columns: Sequence[Any] = cur.description or ()
                return Rows([str(c[0]) for c in columns], list(cur.fetchall()))
        except pymysql.err.MySQLError as exc:
            raise FetchError(f"MySQL refused the query: {exc}") from exc
        finally:
            conn.close()

    return run
