from __future__ import annotations

import random

import pytest

from cryptopipe import idranges as ranges


def test_compact_coalesces_consecutive_ids_and_keeps_holes() -> None:
    assert ranges.compact([5, 1, 2, 3, 7, 8, 3]) == [(1, 3), (5, 5), (7, 8)]
    assert ranges.compact([]) == []


def test_merge_joins_adjacent_and_overlapping_ranges() -> None:
    assert ranges.merge([(1, 3), (10, 12)], [(4, 6)]) == [(1, 6), (10, 12)]
    assert ranges.merge([(1, 3), (10, 12)], [(7, 9)]) == [(1, 3), (7, 12)]
    assert ranges.merge([(1, 3), (10, 12)], [(2, 11)]) == [(1, 12)]
    assert ranges.merge([(1, 3)], [(5, 5)]) == [(1, 3), (5, 5)]


def test_normalize_refuses_empty_range() -> None:
    with pytest.raises(ValueError):
        ranges.normalize([(3, 1)])


def test_contains_and_new_ids() -> None:
    rs = [(1, 3), (7, 7), (10, 20)]
    assert [i for i in range(0, 23) if ranges.contains(rs, i)] == [1, 2, 3, 7, *range(10, 21)]
    assert ranges.new_ids(rs, [4, 2, 4, 21, 7, 5]) == [4, 21, 5]
    assert not ranges.contains([], 1)


def test_any_split_of_an_id_stream_gives_the_same_ranges() -> None:
    rng = random.Random(7)
    ids = [i for i in range(1, 2000) if rng.random() > 0.01]
    rng.shuffle(ids)
    expected = ranges.compact(ids)
    for _ in range(20):
        stored: list[ranges.Range] = []
        pos = 0
        while pos < len(ids):
            step = rng.randint(1, 300)
            chunk = ids[pos : pos + step]
            fresh = ranges.new_ids(stored, chunk)
            assert fresh == list(dict.fromkeys(chunk))  # nothing of a later chunk seen before
            stored = ranges.merge(stored, ranges.compact(fresh))
            pos += step
        assert stored == expected
    assert len(expected) < 40  # the holes, not the ids, drive the size
