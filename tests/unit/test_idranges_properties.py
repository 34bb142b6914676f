"""Property-based tests of cryptopipe.idranges and of its users' bookkeeping: whatever the ids,
the ranges mean exactly the set of ids a plain Python ``set`` would hold."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from cryptopipe import idranges
from cryptopipe.audit.core import IdTally
from cryptopipe.idranges import Range
from cryptopipe.producer.sequence import SequenceTracker, Verdict

ids_st = st.integers(min_value=0, max_value=200)
range_st = st.tuples(ids_st, st.integers(min_value=0, max_value=12)).map(
    lambda t: (t[0], t[0] + t[1])
)
ranges_st = st.lists(range_st, max_size=12)
normalized_st = ranges_st.map(idranges.normalize)
# no per-example deadline: CI's 2 cores are shared, a slow example is not a failure
relaxed = settings(deadline=None)


def ids_of(ranges: list[Range]) -> set[int]:
    return {i for lo, hi in ranges for i in range(lo, hi + 1)}


def is_normalized(ranges: list[Range]) -> bool:
    ordered = all(lo <= hi for lo, hi in ranges)
    apart = all(a[1] + 1 < b[0] for a, b in pairwise(ranges))
    return ordered and apart


@relaxed
@given(ranges_st)
def test_normalize_is_the_one_canonical_form_of_the_same_ids(ranges: list[Range]) -> None:
    out = idranges.normalize(ranges)
    assert is_normalized(out)
    assert ids_of(out) == ids_of(ranges)
    assert idranges.normalize(out) == out
    assert idranges.compact(ids_of(ranges)) == out, "one id set, one range list"


@relaxed
@given(st.lists(ids_st))
def test_compact_covers_exactly_the_ids(ids: list[int]) -> None:
    out = idranges.compact(ids)
    assert is_normalized(out)
    assert ids_of(out) == set(ids)
    assert idranges.size(out) == len(set(ids))


@relaxed
@given(normalized_st, ranges_st)
def test_merge_is_the_union(existing: list[Range], new: list[Range]) -> None:
    out = idranges.merge(existing, new)
    assert is_normalized(out)
    assert ids_of(out) == ids_of(existing) | ids_of(new)
    assert out == idranges.merge(idranges.normalize(new), existing)


@relaxed
@given(normalized_st, range_st)
def test_subtract_removes_exactly_the_range(ranges: list[Range], cut: Range) -> None:
    out = idranges.subtract(ranges, *cut)
    assert is_normalized(out), "a normalized input stays normalized"
    assert ids_of(out) == ids_of(ranges) - ids_of([cut])


@relaxed
@given(normalized_st)
def test_holes_are_the_ids_missing_between_first_and_last(ranges: list[Range]) -> None:
    holes = idranges.holes(ranges)
    if not ranges:
        assert holes == []
        return
    span = set(range(ranges[0][0], ranges[-1][1] + 1))
    assert is_normalized(holes)
    assert ids_of(holes) == span - ids_of(ranges)
    assert idranges.size(ranges) + idranges.size(holes) == len(span)
    assert idranges.merge(ranges, holes) == [(ranges[0][0], ranges[-1][1])]


@relaxed
@given(normalized_st)
def test_contains_is_membership(ranges: list[Range]) -> None:
    ids = ids_of(ranges)
    assert [i for i in range(-2, 220) if idranges.contains(ranges, i)] == sorted(ids)


@relaxed
@given(normalized_st, st.lists(ids_st))
def test_new_ids_are_the_uncovered_ones_once_in_first_seen_order(
    ranges: list[Range], ids: list[int]
) -> None:
    covered = ids_of(ranges)
    expected = [i for i in dict.fromkeys(ids) if i not in covered]
    assert idranges.new_ids(ranges, ids) == expected


@relaxed
@given(st.lists(st.lists(ids_st, max_size=30), max_size=8))
def test_the_audit_tally_of_any_batches_counts_each_id_once(batches: list[list[int]]) -> None:
    tally = IdTally()
    for batch in batches:
        tally.add_many(batch)
    every = [i for batch in batches for i in batch]
    assert tally.ranges == idranges.compact(every)
    assert tally.distinct == len(set(every))
    assert tally.duplicates == len(every) - len(set(every))
    assert tally.gaps() == idranges.holes(idranges.compact(every))


@relaxed
@given(ids_st, st.lists(ids_st, max_size=60), st.lists(range_st, max_size=3))
def test_the_producer_produces_each_id_once_and_remembers_exactly_the_holes(
    first: int, later: list[int], given_up: list[Range]
) -> None:
    tracker = SequenceTracker()
    produced: list[int] = []
    for trade_id in [first, *later]:
        verdict, _gap = tracker.observe("BTCUSDT", trade_id)
        if verdict is Verdict.PRODUCE:
            produced.append(trade_id)
    assert len(produced) == len(set(produced)), "nothing produced twice"
    assert min(produced) == first, "the first id is the start: nothing below it"
    assert set(produced) == {i for i in [first, *later] if i >= first}
    holes = idranges.holes(idranges.compact(produced))
    assert tracker.missing("BTCUSDT") == holes
    assert tracker.missing_count() == idranges.size(holes)
    for lo, hi in given_up:
        tracker.give_up("BTCUSDT", lo, hi)
        holes = idranges.subtract(holes, lo, hi)
    assert tracker.missing("BTCUSDT") == holes
    restored = SequenceTracker()
    restored.restore(tracker.snapshot(), frozenset({"BTCUSDT"}))
    assert restored.missing("BTCUSDT") == holes
    assert restored.last_id("BTCUSDT") == max(produced)
