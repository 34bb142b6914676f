from __future__ import annotations

import pytest

from cryptopipe.processor.intervals import Interval, parse_interval, parse_intervals, rollup_plan


def test_parse_labels_and_seconds() -> None:
    assert parse_intervals("1m, 1s") == [Interval("1s", 1), Interval("1m", 60)]
    assert parse_interval("5m").seconds == 300
    assert parse_interval("1h").micros == 3_600_000_000
    assert parse_interval("1d").seconds == 86400


@pytest.mark.parametrize("bad", ["", "0s", "1x", "7s", "1.5m", "s", "-1m"])
def test_bad_intervals_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_intervals(bad)


def test_duplicate_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        parse_intervals("60s,1m")


def test_window_start_floors_also_before_epoch() -> None:
    one_min = parse_interval("1m")
    assert one_min.window_start_us(90_000_000) == 60_000_000
    assert one_min.window_start_us(60_000_000) == 60_000_000
    assert one_min.window_start_us(-1) == -60_000_000


def test_rollup_plan_uses_the_finest_interval() -> None:
    direct, rolled = rollup_plan(parse_intervals("1s,1m,1h"))
    assert [i.label for i in direct] == ["1s"]
    assert [i.label for i in rolled] == ["1m", "1h"]
    direct, rolled = rollup_plan(parse_intervals("2s,3s,1m"))
    assert [i.label for i in direct] == ["2s", "3s"]
    assert [i.label for i in rolled] == ["1m"]
