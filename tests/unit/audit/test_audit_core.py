"""The audit's comparison logic: what counts as missing, double counted and gaps."""

from __future__ import annotations

import pytest

from cryptopipe.audit.core import CandleTotals, IdTally, TimeBounds, compare, first_last_excluding
from cryptopipe.audit.settings import parse_time_us


def tally(*batches: list[int]) -> IdTally:
    t = IdTally()
    for ids in batches:
        t.add_many(ids)
    return t


def test_duplicates_on_the_topic_are_counted_but_not_expected_twice() -> None:
    t = tally([1, 2, 3], [3, 4], [1])
    assert (t.messages, t.duplicates, t.distinct) == (6, 2, 4)
    assert compare("BTCUSDT", "1m", t, CandleTotals(4, 1, 4)).ok


def test_missing_and_double_counted() -> None:
    t = tally(list(range(1, 11)))
    missing = compare("BTCUSDT", "1m", t, CandleTotals(8, 1, 10))
    assert (missing.missing, missing.double_counted, missing.ok) == (2, 0, False)
    assert "2 missing in MySQL" in missing.problems()
    double = compare("BTCUSDT", "1m", t, CandleTotals(11, 1, 10))
    assert (double.missing, double.double_counted, double.ok) == (0, 1, False)


def test_gaps_on_the_topic_fail_the_audit() -> None:
    t = tally([1, 2, 3, 7, 8, 10])
    assert t.gaps() == [(4, 6), (9, 9)]
    res = compare("BTCUSDT", "1s", t, CandleTotals(6, 1, 10))
    assert (res.topic_gap_ranges, res.topic_missing_ids) == (2, 4)
    assert not res.ok
    assert "4 ids missing on the topic (2 gaps)" in res.problems()


def test_late_trades_count_as_accounted_for() -> None:
    t = tally([1, 2, 3, 4, 5])
    res = compare("ETHUSDT", "1m", t, CandleTotals(4, 2, 5, frozenset({1})))
    assert res.ok, res.problems()
    assert (res.late_trades, res.expected_first_id) == (1, 2)


def test_wrong_first_or_last_id_is_reported() -> None:
    t = tally([1, 2, 3])
    res = compare("ETHUSDT", "1m", t, CandleTotals(3, 1, 4))
    assert not res.ids_match
    assert not res.ok


def test_nothing_anywhere_is_not_a_problem_but_candles_without_topic_are() -> None:
    assert compare("X", "1m", IdTally(), CandleTotals(0, None, None)).ok
    assert compare("X", "1m", IdTally(), CandleTotals(3, 1, 3)).double_counted == 3


def test_first_last_excluding_late_ids() -> None:
    t = tally([1, 2, 3, 4, 5])
    assert first_last_excluding(t, {1, 5}) == (2, 4)
    assert first_last_excluding(t, {1, 2, 3, 4, 5}) == (None, None)
    assert first_last_excluding(t, {3}) == (1, 5)


def test_bounds_align_to_whole_windows() -> None:
    minute = 60_000_000
    b = TimeBounds(since_us=90_000_000, until_us=200_000_000).aligned(minute)
    assert (b.since_us, b.until_us) == (120_000_000, 180_000_000)
    assert b.contains(120_000_000) and not b.contains(180_000_000)
    assert TimeBounds().aligned(minute).contains(-5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1700000000", 1_700_000_000_000_000),
        ("1700000000.5", 1_700_000_000_500_000),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000_000),
        ("2023-11-14T22:13:20.000001", 1_700_000_000_000_001),
        ("2023-11-14T23:13:20+01:00", 1_700_000_000_000_000),
    ],
)
def test_parse_time(text: str, expected: int) -> None:
    assert parse_time_us(text) == expected


def test_rejections_reconciled_with_the_processors_record() -> None:
    from cryptopipe.audit.core import UNKNOWN_SYMBOL, reconcile_rejections  # noqa: PLC0415

    rules = {
        (0, 1): ("not_json", None),
        (0, 2): ("wrong_type", "BTCUSDT"),
        (0, 3): ("bad_decimal", "BTCUSDT"),
        (1, 7): ("unknown_symbol", "ETHUSDT"),
    }
    recorded = {(0, 1): "not_json", (0, 2): "wrong_type", (0, 3): "non_positive", (0, 9): "x"}
    # (0, 9) is a valid trade the processor rejected; (0, 50) was not scanned: not compared
    recorded[(0, 50)] = "not_json"
    check = reconcile_rejections(rules, recorded, {(0, 9)})
    assert check.by_symbol == {
        UNKNOWN_SYMBOL: {"not_json": 1},
        "BTCUSDT": {"wrong_type": 1, "bad_decimal": 1},
        "ETHUSDT": {"unknown_symbol": 1},
    }
    assert (check.unrecorded, check.unexpected, check.differs) == (1, 1, 1)
    assert not check.ok and len(check.problems()) == 3
    assert reconcile_rejections(rules, {k: r for k, (r, _) in rules.items()}, set()).ok
    dlq = reconcile_rejections(rules, recorded, set(), None, {(0, 1), (1, 7), (5, 5)})
    assert (dlq.in_dlq, dlq.not_in_dlq) == (2, 2)


def test_an_audit_of_some_symbols_judges_only_their_rejections() -> None:
    """Garbage of no symbol, or of another symbol, left unrecorded on the topic (say by a
    processor that started at its end) fails an audit of all symbols, not one of BTCUSDT."""
    from cryptopipe.audit.core import reconcile_rejections  # noqa: PLC0415

    rules = {
        (0, 1): ("not_json", None),
        (0, 2): ("wrong_type", "ETHUSDT"),
        (0, 3): ("bad_decimal", "BTCUSDT"),
    }
    recorded = {(0, 3): "bad_decimal"}
    scoped = reconcile_rejections(rules, recorded, set(), {"BTCUSDT"})
    assert scoped.ok and scoped.by_symbol == {"BTCUSDT": {"bad_decimal": 1}}
    everything = reconcile_rejections(rules, recorded, set())
    assert not everything.ok and everything.unrecorded == 2
