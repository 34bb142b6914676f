"""Sets of trade ids as ranges: the one owner of merge, holes and membership. Pure, no I/O.

Binance trade ids are per-symbol sequences, so a set of ids compresses to one ``[lo, hi]``
range (inclusive) plus one per hole. A *normalized* range list is sorted, disjoint and
non-adjacent (``[1, 3], [5, 5]``, never ``[1, 3], [4, 5]``): every id set has exactly one.

Users: the producer keeps the ids still to backfill below the last id it produced
(producer/sequence.py), the processor keeps the ids it counted in MySQL so a redelivered trade
counts once (processor/batch.py, summary.py, sink.py), and the audit keeps the distinct ids it
read from the topic and their holes (audit/core.py, windows.py).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from itertools import pairwise

Range = tuple[int, int]


def normalize(ranges: Iterable[Range]) -> list[Range]:
    """Sort and coalesce overlapping or adjacent ranges (``[1,3]+[4,5] -> [1,5]``)."""
    out: list[Range] = []
    for lo, hi in sorted(ranges):
        if lo > hi:
            raise ValueError(f"empty range [{lo}, {hi}]")
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def compact(ids: Iterable[int]) -> list[Range]:
    """Ids -> the fewest ranges covering exactly them."""
    return normalize((i, i) for i in ids)


def merge(existing: Sequence[Range], new: Iterable[Range]) -> list[Range]:
    """The union of two range sets, normalized."""
    return normalize([*existing, *new])


def subtract(ranges: Iterable[Range], lo: int, hi: int) -> list[Range]:
    """``ranges`` without the ids ``lo..hi`` (the parts outside it kept, in order)."""
    out: list[Range] = []
    for a, b in ranges:
        if b < lo or a > hi:
            out.append((a, b))
            continue
        if a < lo:
            out.append((a, lo - 1))
        if b > hi:
            out.append((hi + 1, b))
    return out


def holes(ranges: Sequence[Range]) -> list[Range]:
    """The ids missing between the first and the last id of normalized ``ranges``."""
    return [(a[1] + 1, b[0] - 1) for a, b in pairwise(ranges)]


def size(ranges: Iterable[Range]) -> int:
    """How many ids disjoint ``ranges`` hold."""
    return sum(hi - lo + 1 for lo, hi in ranges)


def contains(ranges: Sequence[Range], trade_id: int) -> bool:
    """Is ``trade_id`` in the normalized ``ranges``? (binary search)"""
    pos = bisect_right(ranges, (trade_id, trade_id)) - 1
    if pos >= 0 and ranges[pos][0] <= trade_id <= ranges[pos][1]:
        return True
    # a range starting exactly at trade_id sorts after (trade_id, trade_id) only if hi > trade_id
    nxt = pos + 1
    return nxt < len(ranges) and ranges[nxt][0] == trade_id


def new_ids(ranges: Sequence[Range], ids: Iterable[int]) -> list[int]:
    """The ids not yet covered, each once, in first-seen order."""
    seen: set[int] = set()
    out: list[int] = []
    for trade_id in ids:
        if trade_id not in seen and not contains(ranges, trade_id):
            seen.add(trade_id)
            out.append(trade_id)
    return out
