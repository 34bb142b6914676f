"""The audit's per-window compare: each candle window against the topic's trades of it, so
errors in two windows are two errors, not a sum that cancels out."""

from __future__ import annotations

from cryptopipe.audit.core import IdTally
from cryptopipe.audit.windows import (
    MAX_LISTED_WINDOWS,
    CandleRow,
    judge_all,
    judge_window,
    ok_window,
)

MINUTE = 60_000_000
T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z


def tally(*batches: list[int]) -> IdTally:
    t = IdTally()
    for ids in batches:
        t.add_many(ids)
    return t


def test_a_window_is_right_when_its_candle_counts_its_distinct_trades() -> None:
    t = tally([1, 2, 3], [3, 4], [1])  # two repeated ids: 4 distinct trades
    assert judge_window(T0, t, CandleRow(4, 1, 4), ()).ok
    missing = judge_window(T0, t, CandleRow(3, 1, 4), ())
    assert (missing.missing, missing.double_counted, missing.ok) == (1, 0, False)
    double = judge_window(T0, t, CandleRow(5, 1, 4), ())
    assert (double.missing, double.double_counted, double.ok) == (0, 1, False)


def test_late_trades_of_the_window_count_as_accounted_for() -> None:
    t = tally([1, 2, 3, 4, 5])
    res = judge_window(T0, t, CandleRow(4, 2, 5), {1, 99})  # 99 is not on the topic
    assert res.ok and res.late_trades == 1
    assert ok_window(T0, t, {1, 99}) == res
    # a candle whose first id is a late trade (not in any candle by contract) is wrong
    assert not judge_window(T0, t, CandleRow(4, 1, 5), {1}).ids_ok


def test_a_first_or_last_id_of_another_window_is_wrong() -> None:
    res = judge_window(T0, tally([1, 2, 3]), CandleRow(3, 1, 4), ())
    assert (res.ok, res.ids_ok, res.missing, res.double_counted) == (False, False, 0, 0)
    assert "first/last id not on the topic" in res.describe()


def test_no_candle_or_no_trades() -> None:
    assert judge_window(T0, None, None, ()).ok
    assert judge_window(T0, tally([1, 2]), None, ()).missing == 2
    assert judge_window(T0, None, CandleRow(3, 1, 3), ()).double_counted == 3


def test_plus_one_in_one_window_and_minus_one_in_another_are_both_reported() -> None:
    tallies = {T0: tally(list(range(1, 31))), T0 + MINUTE: tally(list(range(31, 51)))}
    candles = {T0: CandleRow(31, 1, 30), T0 + MINUTE: CandleRow(19, 31, 50)}
    res = judge_all("BTCUSDT", "1m", tallies, candles, {}).summary()
    # the sums agree (50 == 50): a sum per symbol and interval would call this complete
    assert res.topic_distinct == res.candle_trades == 50
    assert (res.ok, res.missing, res.double_counted, res.windows_wrong) == (False, 1, 1, 2)
    assert res.wrong_windows == [
        "2026-01-01T00:00:00Z: 1 double counted",
        "2026-01-01T00:01:00Z: 1 missing",
    ]
    assert "2 wrong windows: " in res.problems()[-1]
    assert {"1 missing in MySQL", "1 double counted"} <= set(res.problems())


def test_wrong_windows_are_all_counted_and_the_first_few_named() -> None:
    n = MAX_LISTED_WINDOWS + 5
    tallies = {T0 + i * MINUTE: tally([i]) for i in range(1, n + 1)}
    res = judge_all("X", "1m", tallies, {}, {}).summary()
    assert (res.windows_judged, res.windows_wrong, res.missing) == (n, n, n)
    assert len(res.wrong_windows) == MAX_LISTED_WINDOWS
    assert res.problems()[-1].endswith("(+5 more)")


def test_gaps_across_windows_fail_the_audit() -> None:
    tallies = {T0: tally([1, 2, 3]), T0 + MINUTE: tally([7, 8, 10])}
    candles = {T0: CandleRow(3, 1, 3), T0 + MINUTE: CandleRow(3, 7, 10)}
    res = judge_all("BTCUSDT", "1m", tallies, candles, {}).summary()
    assert (res.windows_wrong, res.topic_gap_ranges, res.topic_missing_ids) == (0, 2, 4)
    assert not res.ok
    assert "4 ids missing on the topic (2 gaps)" in res.problems()
    assert (res.topic_first_id, res.topic_last_id) == (1, 10)


def test_only_the_given_windows_are_judged() -> None:
    tallies = {T0: tally([1]), T0 + MINUTE: tally([2])}
    candles = {T0 - MINUTE: CandleRow(5, 0, 0)}  # an older candle, outside what is judged
    res = judge_all("X", "1m", tallies, candles, {}, judged=[T0]).summary()
    assert (res.windows_judged, res.missing, res.double_counted) == (1, 1, 0)
