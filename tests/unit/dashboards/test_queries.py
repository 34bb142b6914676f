"""Reading the dashboards' queries and expanding them as Grafana does."""

from __future__ import annotations

import pytest

from cryptopipe.dashboards.queries import (
    expand_mysql_macros,
    format_value,
    interval_seconds,
    substitute,
)


def test_multi_values_are_written_as_grafana_writes_them() -> None:
    assert format_value(["127.0.0.1:9101", "a"], "promql") == r"(127\\.0\\.0\\.1:9101|a)"
    assert format_value(["BTCUSDT", "it's"], "sql") == "'BTCUSDT','it''s'"
    assert format_value("1m", "sql") == "1m"


def test_substitute_leaves_unknown_variables() -> None:
    text = 'rate(x{job=~"$job", a="${inst}"}[$__rate_interval])'
    assert substitute(text, {"job": ["p"], "inst": "i"}, "promql") == (
        'rate(x{job=~"(p)", a="i"}[$__rate_interval])'
    )


def test_mysql_macros_expand_as_grafana_expands_them() -> None:
    sql = (
        "SELECT $__timeGroupAlias(window_start, 5m), $__timeGroup(t, '1h') FROM c WHERE "
        "$__timeFilter(window_start) AND t > $__timeFrom() AND t < $__timeTo() AND "
        "$__unixEpochFilter(e) AND $__unixEpochGroup(e, 30s) > 0"
    )
    assert expand_mysql_macros(sql, 100, 200) == (
        'SELECT UNIX_TIMESTAMP(window_start) DIV 300 * 300 AS "time", '
        "UNIX_TIMESTAMP(t) DIV 3600 * 3600 FROM c WHERE "
        "window_start BETWEEN FROM_UNIXTIME(100) AND FROM_UNIXTIME(200) AND "
        "t > FROM_UNIXTIME(100) AND t < FROM_UNIXTIME(200) AND "
        "e >= 100 AND e <= 200 AND e DIV 30 * 30 > 0"
    )


def test_unknown_macros_and_intervals_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown Grafana MySQL macro"):
        expand_mysql_macros("$__nope(x)", 1, 2)
    with pytest.raises(ValueError, match="not a Grafana interval"):
        interval_seconds("5 minutes")
    assert interval_seconds("'2h'") == 7200
