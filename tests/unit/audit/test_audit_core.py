"""The audit's core: id tallies, time bounds, and the reconciliation of rejected messages
(the per-window compare: test_audit_windows.py)."""

from __future__ import annotations

import pytest

from cryptopipe.audit.core import IdTally, TimeBounds
from cryptopipe.audit.settings import parse_time_us


def test_duplicates_on_the_topic_are_counted_but_not_expected_twice() -> None:
    t = IdTally()
    for ids in ([1, 2, 3], [3, 4], [1], [7, 8, 10]):
        t.add_many(ids)
    assert (t.messages, t.duplicates, t.distinct) == (9, 2, 7)
    assert t.gaps() == [(5, 6), (9, 9)]


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
