"""Market: candlesticks, volume and trade count per symbol, read from the candles table in MySQL
(src/cryptopipe/db/migrations/0001_candles.sql) with Grafana's MySQL macros."""

from __future__ import annotations

import logging
from typing import Any

from grafana_foundation_sdk.builders import candlestick
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import candlestick as candle_model
from grafana_foundation_sdk.models import dashboard as model

from cryptopipe.dashboards.common import (
    MYSQL,
    SQL,
    base_variables,
    build,
    mysql_variable,
    new_dashboard,
    row,
    sel,
    stat_panel,
    target,
    timeseries_panel,
)

logger = logging.getLogger(__name__)

UID = "cryptopipe-market"
# $symbol is multi-valued: Grafana writes it into SQL as 'A','B' and into PromQL as (A|B)
WHERE = "$__timeFilter(window_start) AND symbol IN ($symbol) AND bar_interval = '$interval'"
SYMBOL_SQL = "SELECT DISTINCT symbol FROM candles ORDER BY symbol"
SYM = 'symbol=~"$symbol"'
INTERVAL_SQL = "SELECT DISTINCT bar_interval FROM candles ORDER BY bar_interval"


def sql_variable(name: str, query: str, *, multi: bool) -> dash.QueryVariable:
    variable = (
        dash.QueryVariable(name)
        .label(name.title())
        .datasource(MYSQL)
        .query(query)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )
    if multi:
        variable = variable.multi(True).include_all(True)
    else:
        variable = variable.current(model.VariableOption(text="1m", value="1m", selected=True))
    return variable


def candles_sql() -> str:
    return (
        "SELECT window_start AS time, open, high, low, close, volume\n"
        f"FROM candles\nWHERE {WHERE}\nORDER BY window_start"
    )


def per_bucket_sql(expr: str, alias: str) -> str:
    return (
        "SELECT $__timeGroupAlias(window_start, $__interval), symbol AS metric, "
        f"{expr} AS {alias}\nFROM candles\nWHERE {WHERE}\nGROUP BY 1, 2\nORDER BY 1"
    )


def candles_panel() -> candlestick.Panel:
    return (
        candlestick.Panel()
        .title("Candles $symbol ($interval)")
        .description(
            "Open, high, low and close of each candle of the symbol at the chosen interval, with "
            "the base-asset volume below (one panel per selected symbol)."
        )
        .unit("currencyUSD")
        .datasource(MYSQL)
        .targets([SQL(candles_sql())])
        .mode(candle_model.VizDisplayMode.CANDLES_VOLUME)
        .candle_style(candle_model.CandleStyle.CANDLES)
        .color_strategy(candle_model.ColorStrategy.OPEN_CLOSE)
        .repeat("symbol")
        .repeat_direction("h")
        .max_per_row(2)
        .span(24)
        .height(10)
    )


def panels() -> list[Any]:
    volume = SQL(per_bucket_sql("SUM(volume)", "volume"))
    trades = SQL(per_bucket_sql("SUM(trade_count)", "trades"))
    return [
        row("Candles"),
        candles_panel(),
        row("Activity"),
        timeseries_panel(
            "Volume per symbol",
            "Traded base-asset volume per symbol, summed over the candles in each time bucket.",
            "short",
            volume,
            width=9,
        ),
        timeseries_panel(
            "Trade count per symbol",
            "Trades per symbol, summed over the candles in each time bucket.",
            "short",
            trades,
            width=9,
        ),
        stat_panel(
            "Candle freshness",
            "Now minus the newest trade committed to the candles, per symbol (Prometheus: "
            "cryptopipe_processor_freshness_seconds).",
            "s",
            target(
                f"max by (symbol) (cryptopipe_processor_freshness_seconds{sel(SYM)})",
                "{{symbol}}",
            ),
            height=8,
        ),
    ]


def dashboard() -> dict[str, Any]:
    board = new_dashboard(
        UID, "cryptopipe / Market", "Candles, volume and trade count per symbol from MySQL"
    )
    variables = [
        *base_variables(),
        mysql_variable(),
        sql_variable("symbol", SYMBOL_SQL, multi=True),
        sql_variable("interval", INTERVAL_SQL, multi=False),
    ]
    for variable in variables:
        board = board.with_variable(variable)
    return build(board, panels())
