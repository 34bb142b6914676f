"""Compact sets of trade ids as sorted, disjoint, non-adjacent ``[lo, hi]`` ranges.

Binance trade ids are per-symbol sequences, so the ids a symbol has had decided (counted in the
candles, or recorded as late) compress to one range plus one per hole (ids Kafka has not
delivered yet). The processor keeps these ranges in MySQL to count each trade once however often
Kafka delivers it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence

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
