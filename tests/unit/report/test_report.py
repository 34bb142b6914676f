"""`cryptopipe report` without servers: every panel of the committed dashboards is drawn from
given data, an empty panel says so, the page is self-contained, the PNGs are real images."""

from __future__ import annotations

import functools
import io
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pymysql
from PIL import Image, ImageStat

from cryptopipe.dashboards.generate import load_all
from cryptopipe.dashboards.queries import panels
from cryptopipe.report import html, plots
from cryptopipe.report.build import Drawn, draw_board, slo_table
from cryptopipe.report.fetch import (
    MySQL,
    Prometheus,
    Rows,
    Series,
    Window,
    legend,
    pymysql_runner,
)

WINDOW = Window(1_700_000_000, 1_700_003_600)
EMPTY = {"WebSocket reconnects by reason"}


class FakePrometheus(Prometheus):
    """Two series per target, except for the panels in EMPTY; records the queries asked."""

    def __init__(self) -> None:
        super().__init__("http://prometheus.invalid", WINDOW)
        self.asked: list[str] = []

    def _series(self, promql: str, fmt: str | None, ref: str, n: int) -> list[Series]:
        self.asked.append(promql)
        if "reconnects_total" in promql:
            return []
        times = [WINDOW.start + 60.0 * i for i in range(n)]
        labels = [{"symbol": "BTCUSDT", "le": "0.5"}, {"symbol": "ETHUSDT", "le": "+Inf"}]
        return [
            Series(legend(fmt, lab, ref), lab, times, [float(i + k) for i in range(n)])
            for k, lab in enumerate(labels)
        ]

    def range(self, promql: str, fmt: str | None, ref: str) -> list[Series]:
        return self._series(promql, fmt, ref, 30)

    def instant(self, promql: str, fmt: str | None, ref: str) -> list[Series]:
        return self._series(promql, fmt, ref, 1)


def fake_sql(sql: str) -> Rows:
    if sql.startswith("SELECT DISTINCT symbol"):
        return Rows(["symbol"], [("BTCUSDT",), ("ETHUSDT",)])
    if sql.startswith("SELECT DISTINCT bar_interval"):
        return Rows(["bar_interval"], [("1m",), ("5m",)])
    t0 = datetime(2023, 11, 14, 22, 13, tzinfo=UTC).replace(tzinfo=None)
    if "open, high, low, close" in sql:
        rows = [
            (
                t0.replace(minute=13 + i),
                Decimal(100 + i),
                Decimal(103 + i),
                Decimal(99 + i),
                Decimal(101 + i),
                Decimal("1.5"),
            )
            for i in range(10)
        ]
        return Rows(["time", "open", "high", "low", "close", "volume"], rows)
    return Rows(
        ["time", "metric", "volume"],
        [(1_700_000_000 + 60 * i, "BTCUSDT", Decimal(i)) for i in range(10)],
    )


@functools.cache
def draw_all() -> tuple[list[Drawn], FakePrometheus]:
    prom, mysql = FakePrometheus(), MySQL(fake_sql, WINDOW)
    drawn = [
        d for n, b in load_all().items() for d in draw_board(n, b, prom, mysql, lambda _: None)
    ]
    return drawn, prom


def is_real_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert image.size == (plots.WIDTH_PX, plots.HEIGHT_PX)
    darkest, brightest = ImageStat.Stat(image.convert("L")).extrema[0]
    assert darkest < 100 and brightest > 200, "a blank (one-colour) image"
    return image


def test_every_panel_of_the_dashboards_is_drawn_or_says_why_not() -> None:
    drawn, prom = draw_all()
    titles = {str(p["title"]) for b in load_all().values() for p in panels(b)}
    # the candlestick panel becomes one chart per symbol, every other panel one figure
    assert {d.title for d in drawn} == (titles - {"Candles $symbol ($interval)"}) | {
        "Candles BTCUSDT (1m)",
        "Candles ETHUSDT (1m)",
    }
    for d in drawn:
        if d.title in EMPTY:
            assert d.png is None and "no data" in d.note
        else:
            assert d.png is not None, (d.title, d.note)
            is_real_png(d.png)
    # the queries are the dashboards' own, with Grafana's variables substituted
    assert prom.asked and not [q for q in prom.asked if "$" in q]
    assert any("[20s]" in q for q in prom.asked)  # $__rate_interval: 15 s step + 5 s scrape


def test_the_page_is_self_contained_and_marks_empty_panels() -> None:
    drawn, prom = draw_all()
    page = html.page("r", "meta", slo_table(load_all()["slo-overview.json"], prom), drawn)
    assert "<script" not in page and "<link" not in page
    assert not re.search(r"(src|href)=\"(?!data:)", page), "a resource that is not inline"
    assert page.count('class="panel has-data"') == sum(d.png is not None for d in drawn)
    assert page.count('class="panel no-data"') == len(EMPTY)
    assert "No data: no data in this time range" in page
    assert 'id="slo-table"' in page and "burn 5m" in page and "budget remaining" in page


def test_slo_table_has_a_row_per_slo_with_budget_and_burn_per_window() -> None:
    _drawn, prom = draw_all()
    rows = slo_table(load_all()["slo-overview.json"], prom)
    slos = {r.slo for r in rows}
    assert {"freshness", "latency", "ingestion", "input-quality"} <= slos
    for r in rows:
        assert {"SLI now", "objective", "budget remaining", "alerts firing"} <= set(r.values)
        assert set(r.burn) == {"5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d (period)"}


def test_heatmap_buckets_are_per_bucket_not_cumulative() -> None:
    t = [1.0, 2.0]
    series = [
        Series("+Inf", {"le": "+Inf"}, t, [10.0, 12.0]),
        Series("0.1", {"le": "0.1"}, t, [3.0, 0.0]),
        Series("1", {"le": "1"}, t, [7.0, 12.0]),
    ]
    labels, times, counts = plots.bucket_counts(series)
    assert labels == ["0.1", "1", "+Inf"] and times == t
    assert counts == [[3.0, 0.0], [4.0, 12.0], [3.0, 0.0]]


def test_legend_fills_labels_and_drops_missing_ones() -> None:
    assert legend("p95 {{symbol}}", {"symbol": "BTCUSDT"}, "A") == "p95 BTCUSDT"
    assert legend("{{reason}} ({{source}})", {"reason": "bad"}, "A") == "bad ()"
    assert legend(None, {}, "A") == "A"


def test_a_database_that_does_not_answer_is_said_per_panel() -> None:
    def refuse() -> Any:
        raise pymysql.err.OperationalError(2003, "Can't connect to MySQL server")

    mysql = MySQL(pymysql_runner(refuse), WINDOW)
    board = load_all()["market.json"]
    drawn = list(draw_board("market.json", board, FakePrometheus(), mysql, lambda _: None))
    sql_panels = [d for d in drawn if d.title in ("Volume per symbol", "Trade count per symbol")]
    assert sql_panels and all(
        d.png is None and "cannot connect to MySQL" in d.note for d in sql_panels
    )
    assert any(d.png is not None for d in drawn)  # the Prometheus panel is still drawn


def test_a_symbol_without_candles_in_the_range_is_named_not_drawn_empty() -> None:
    """MySQL keeps every symbol that ever traded; the report charts those with candles in its
    range and names the others (CI: a 15 min report listed eight long-idle symbols as empty)."""

    def sql(text: str) -> Rows:
        if text.startswith("SELECT DISTINCT symbol"):
            return Rows(["symbol"], [("BTCUSDT",), ("OLDUSDT",)])
        if "open, high, low, close" in text and "'OLDUSDT'" in text:
            return Rows(["time", "open", "high", "low", "close", "volume"], [])
        return fake_sql(text)

    said: list[str] = []
    board = load_all()["market.json"]
    drawn = list(
        draw_board("market.json", board, FakePrometheus(), MySQL(sql, WINDOW), said.append)
    )
    candles = [d.title for d in drawn if d.title.startswith("Candles")]
    assert candles == ["Candles BTCUSDT (1m)"]
    assert any("no 1m candles in range for OLDUSDT" in line for line in said), said
