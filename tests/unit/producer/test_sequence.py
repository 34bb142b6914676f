"""Dedup and gap detection over per-symbol trade ids."""

from __future__ import annotations

import random

from cryptopipe.producer.sequence import Gap, SequenceTracker, Verdict


def test_in_order_ids_are_produced_without_gaps() -> None:
    tracker = SequenceTracker()
    for trade_id in range(100, 110):
        assert tracker.observe("BTCUSDT", trade_id) == (Verdict.PRODUCE, None)
    assert tracker.last_id("BTCUSDT") == 109
    assert tracker.missing("BTCUSDT") == []


def test_repeated_id_is_a_duplicate() -> None:
    tracker = SequenceTracker()
    tracker.observe("BTCUSDT", 1)
    tracker.observe("BTCUSDT", 2)
    assert tracker.observe("BTCUSDT", 2) == (Verdict.DUPLICATE, None)
    assert tracker.observe("BTCUSDT", 1) == (Verdict.DUPLICATE, None)


def test_jump_opens_a_gap_that_backfill_fills_exactly_once() -> None:
    tracker = SequenceTracker()
    tracker.observe("ETHUSDT", 10)
    assert tracker.observe("ETHUSDT", 15) == (Verdict.PRODUCE, Gap("ETHUSDT", 11, 14))
    assert tracker.missing("ETHUSDT") == [(11, 14)]
    assert tracker.observe("ETHUSDT", 12)[0] is Verdict.PRODUCE
    assert tracker.missing("ETHUSDT") == [(11, 11), (13, 14)]
    assert tracker.observe("ETHUSDT", 12)[0] is Verdict.DUPLICATE
    for trade_id in (11, 13, 14):
        assert tracker.observe("ETHUSDT", trade_id)[0] is Verdict.PRODUCE
    assert tracker.missing("ETHUSDT") == []
    assert tracker.observe("ETHUSDT", 15)[0] is Verdict.DUPLICATE


def test_symbols_are_independent() -> None:
    tracker = SequenceTracker()
    tracker.observe("BTCUSDT", 5)
    assert tracker.observe("ETHUSDT", 5) == (Verdict.PRODUCE, None)
    assert tracker.observe("BTCUSDT", 7)[1] == Gap("BTCUSDT", 6, 6)
    assert tracker.missing_count() == 1


def test_give_up_forgets_part_of_a_range() -> None:
    tracker = SequenceTracker()
    tracker.observe("BTCUSDT", 1)
    tracker.observe("BTCUSDT", 20)
    tracker.give_up("BTCUSDT", 5, 9)
    assert tracker.missing("BTCUSDT") == [(2, 4), (10, 19)]


def test_any_interleaving_of_overlapping_deliveries_produces_each_id_once() -> None:
    """Live stream with a hole, a second (overlapping) connection, then backfill, shuffled."""
    rng = random.Random(7)
    for _ in range(50):
        tracker = SequenceTracker()
        produced: list[int] = []
        first = [*range(1, 40), *range(60, 80)]  # connection 1 loses 40..59
        second = list(range(70, 100))  # connection 2 overlaps 70..79
        backfill = list(range(40, 60))
        stream = first + second
        for trade_id in backfill:  # backfill arrives at a random point after the gap opened
            stream.insert(rng.randint(40, len(stream)), trade_id)
        for trade_id in stream:
            if tracker.observe("X", trade_id)[0] is Verdict.PRODUCE:
                produced.append(trade_id)
        assert sorted(produced) == list(range(1, 100))
