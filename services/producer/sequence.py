"""Per-symbol trade-id bookkeeping: dedup and gap detection. Pure, no I/O.

Binance ``@trade`` ids increase by one per trade and symbol. The tracker remembers, per symbol,
the highest id produced and the id ranges still missing below it. A trade is produced once:

- ``t == last + 1``: in order, produce;
- ``t > last + 1``: produce, and remember ``[last + 1, t - 1]`` as a gap to backfill;
- ``t <= last``: produce only if it fills a remembered gap (backfill), else it is a duplicate
  (connection overlap, backfill meeting the live stream, a replayed frame).

The first trade seen for a symbol only sets the starting point: there is nothing to compare it with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from cryptopipe import idranges


class Verdict(Enum):
    PRODUCE = "produce"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class Gap:
    symbol: str
    first_id: int
    last_id: int

    @property
    def size(self) -> int:
        return self.last_id - self.first_id + 1


@dataclass(slots=True)
class _SymbolState:
    last_id: int
    # The ids below last_id not produced yet, as normalized ranges (cryptopipe.idranges).
    missing: list[idranges.Range] = field(default_factory=list)


Snapshot = dict[str, dict[str, object]]


class SequenceTracker:
    """Dedup + gap detection over all symbols."""

    def __init__(self) -> None:
        self._state: dict[str, _SymbolState] = {}

    def advance(self, symbol: str, trade_id: int) -> bool:
        """The common case, cheaply: if ``trade_id`` is the next id of a known symbol, record
        it and return True. Otherwise change nothing and return False (then :meth:`observe`)."""
        state = self._state.get(symbol)
        if state is not None and trade_id == state.last_id + 1:
            state.last_id = trade_id
            return True
        return False

    def observe(self, symbol: str, trade_id: int) -> tuple[Verdict, Gap | None]:
        """Decide for one trade; returns the verdict and a newly opened gap, if any."""
        state = self._state.get(symbol)
        if state is None:
            self._state[symbol] = _SymbolState(trade_id)
            return Verdict.PRODUCE, None
        last = state.last_id
        if trade_id == last + 1:
            state.last_id = trade_id
            return Verdict.PRODUCE, None
        if trade_id > last:
            gap = Gap(symbol, last + 1, trade_id - 1)
            state.missing.append((gap.first_id, gap.last_id))  # above all others: still sorted
            state.last_id = trade_id
            return Verdict.PRODUCE, gap
        if idranges.contains(state.missing, trade_id):  # a backfill fills a gap
            state.missing = idranges.subtract(state.missing, trade_id, trade_id)
            return Verdict.PRODUCE, None
        return Verdict.DUPLICATE, None

    def missing(self, symbol: str) -> list[tuple[int, int]]:
        """The id ranges of ``symbol`` still to backfill, oldest first."""
        state = self._state.get(symbol)
        return [] if state is None else list(state.missing)

    def missing_count(self) -> int:
        return sum(idranges.size(s.missing) for s in self._state.values())

    def last_id(self, symbol: str) -> int | None:
        state = self._state.get(symbol)
        return None if state is None else state.last_id

    def give_up(self, symbol: str, first_id: int, last_id: int) -> None:
        """Forget a missing range that can no longer be filled (it stays counted as lost)."""
        state = self._state.get(symbol)
        if state is not None:
            state.missing = idranges.subtract(state.missing, first_id, last_id)

    def snapshot(self) -> Snapshot:
        """Plain-JSON view: per symbol the last id and the missing ranges."""
        return {
            symbol: {"last_id": state.last_id, "missing": [list(r) for r in state.missing]}
            for symbol, state in self._state.items()
        }

    def restore(self, data: Snapshot, symbols: frozenset[str]) -> int:
        """Seed from :meth:`snapshot` output (configured symbols only); returns how many
        symbols were restored. Malformed entries are ignored."""
        restored = 0
        for symbol, entry in data.items():
            last_id = entry.get("last_id")
            missing = entry.get("missing", [])
            if symbol not in symbols or type(last_id) is not int or not isinstance(missing, list):
                continue
            ranges = [
                (r[0], r[1])
                for r in missing
                if isinstance(r, list)
                and len(r) == 2
                and type(r[0]) is int
                and type(r[1]) is int
                and r[0] <= r[1] < last_id
            ]
            self._state[symbol] = _SymbolState(last_id, idranges.normalize(ranges))
            restored += 1
        return restored
