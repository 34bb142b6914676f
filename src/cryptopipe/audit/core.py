"""The audit's pure core: trades seen on the topic against trades counted in MySQL.

The topic side keeps distinct trade ids as compact ranges (millions of trades cost a few
ranges), how many messages repeated an id, and the holes between ids; the per-window compare
against the candle rows is in cryptopipe.audit.windows, the summary per symbol and interval
here (``IntervalResult``). Holes in the topic's id sequence are trades the producer never
delivered (Binance ids are per-symbol sequences). The rejected messages are reconciled with the
processor's record here too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from cryptopipe import idranges

MICROS = 1_000_000


@dataclass(frozen=True, slots=True)
class TimeBounds:
    """Half-open trade-time bounds [since_us, until_us); None means unbounded."""

    since_us: int | None = None
    until_us: int | None = None

    def aligned(self, interval_us: int) -> TimeBounds:
        """Shrink to whole windows of ``interval_us`` so candles and trades cover the same span."""
        since = self.since_us
        if since is not None:
            since = -(-since // interval_us) * interval_us  # round up
        until = self.until_us
        if until is not None:
            until = until // interval_us * interval_us  # round down
        return TimeBounds(since, until)

    def contains(self, time_us: int) -> bool:
        return (self.since_us is None or time_us >= self.since_us) and (
            self.until_us is None or time_us < self.until_us
        )


@dataclass(slots=True)
class IdTally:
    """Distinct ids as ranges, and how many messages repeated an id already seen."""

    ranges: list[idranges.Range] = field(default_factory=list)
    messages: int = 0
    duplicates: int = 0

    def add_many(self, ids: Sequence[int]) -> None:
        self.messages += len(ids)
        fresh = idranges.new_ids(self.ranges, ids)
        self.duplicates += len(ids) - len(fresh)
        if fresh:
            self.ranges = idranges.merge(self.ranges, idranges.compact(fresh))

    @property
    def distinct(self) -> int:
        return idranges.size(self.ranges)

    @property
    def first_id(self) -> int | None:
        return self.ranges[0][0] if self.ranges else None

    @property
    def last_id(self) -> int | None:
        return self.ranges[-1][1] if self.ranges else None

    def gaps(self) -> list[idranges.Range]:
        """Missing id ranges between the first and last id seen."""
        return idranges.holes(self.ranges)

    def contains(self, trade_id: int) -> bool:
        return idranges.contains(self.ranges, trade_id)


@dataclass(frozen=True, slots=True)
class IntervalResult:
    """One symbol and interval, added up over the candle windows the audit judged (see
    cryptopipe.audit.windows): ``missing`` and ``double_counted`` sum the wrong windows'
    shortfalls and excesses, so errors in two windows never cancel out."""

    symbol: str
    interval: str
    topic_messages: int
    topic_duplicates: int
    topic_distinct: int
    topic_first_id: int | None
    topic_last_id: int | None
    topic_gap_ranges: int
    topic_missing_ids: int
    candle_trades: int
    late_trades: int
    # messages of the symbol the processor's rules reject (any time: not trades, not missing)
    rejected_messages: int = 0
    windows_judged: int = 0
    windows_wrong: int = 0
    missing_trades: int = 0
    double_counted_trades: int = 0
    ids_wrong_windows: int = 0  # windows whose candle's first/last id is no trade of it
    wrong_windows: list[str] = field(default_factory=list)  # the first few, named

    @property
    def counted(self) -> int:
        return self.candle_trades + self.late_trades

    @property
    def missing(self) -> int:
        """Trades on the topic that MySQL does not account for (summed per window)."""
        return self.missing_trades

    @property
    def double_counted(self) -> int:
        """Trades MySQL accounts for beyond the distinct trades on the topic (per window)."""
        return self.double_counted_trades

    @property
    def ids_match(self) -> bool:
        return self.ids_wrong_windows == 0

    @property
    def ok(self) -> bool:
        return self.windows_wrong == 0 and self.topic_missing_ids == 0

    def problems(self) -> list[str]:
        out = []
        if self.missing:
            out.append(f"{self.missing} missing in MySQL")
        if self.double_counted:
            out.append(f"{self.double_counted} double counted")
        if self.topic_missing_ids:
            out.append(
                f"{self.topic_missing_ids} ids missing on the topic "
                f"({self.topic_gap_ranges} gap{'s' if self.topic_gap_ranges != 1 else ''})"
            )
        if not self.ids_match:
            out.append(f"{self.ids_wrong_windows} windows with a first/last id not on the topic")
        if self.windows_wrong:
            listed = "; ".join(self.wrong_windows)
            more = self.windows_wrong - len(self.wrong_windows)
            out.append(
                f"{self.windows_wrong} wrong window{'s' if self.windows_wrong != 1 else ''}: "
                f"{listed}{f' (+{more} more)' if more > 0 else ''}"
            )
        return out


# a rejection whose symbol cannot be known (not JSON, a malformed symbol and key, ...)
UNKNOWN_SYMBOL = "?"
MAX_LISTED = 20  # mismatching messages listed by offset in a report


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One message on which the audit's rules and the processor's record disagree."""

    partition: int
    offset: int
    rules: str  # the reason the rules give, or "valid"
    recorded: str  # the reason in rejected_trades, or "none"


@dataclass(slots=True)
class RejectionCheck:
    """The messages the rules reject, against the processor's rejected_trades rows.

    ``unrecorded``: the rules reject it, the processor recorded no rejection (not processed
    yet, or it counted the message as a trade); ``unexpected``: the processor rejected a
    message the rules accept; ``differs``: both reject it, for different reasons. The DLQ
    counts are shown, not judged."""

    by_symbol: dict[str, Counter[str]] = field(default_factory=dict)
    unrecorded: int = 0
    unexpected: int = 0
    differs: int = 0
    listed: list[Mismatch] = field(default_factory=list)
    # rejected messages with / without a processor record on the DLQ topic (the DLQ is best
    # effort: a publish that keeps failing is given up, rejected_trades keeps every row)
    in_dlq: int = 0
    not_in_dlq: int = 0

    @property
    def ok(self) -> bool:
        return self.unrecorded == self.unexpected == self.differs == 0

    def count(self, symbol: str) -> int:
        return sum(self.by_symbol.get(symbol, Counter()).values())

    def problems(self) -> list[str]:
        out = []
        if self.unrecorded:
            out.append(f"{self.unrecorded} rejected by the rules but not in rejected_trades")
        if self.unexpected:
            out.append(f"{self.unexpected} in rejected_trades but valid by the rules")
        if self.differs:
            out.append(f"{self.differs} rejected for another reason than the rules give")
        return out


def reconcile_rejections(
    rejected: Mapping[tuple[int, int], tuple[str, str | None]],
    recorded: Mapping[tuple[int, int], str],
    valid_recorded: Collection[tuple[int, int]],
    symbols: set[str] | None = None,
    dlq: set[tuple[int, int]] | None = None,
) -> RejectionCheck:
    """Compare, message by message, the rules' rejections (``(partition, offset) -> (reason,
    symbol)``) with the processor's (``recorded``); ``valid_recorded``: the scanned messages
    the rules accept that the processor recorded as rejected.

    An audit of ``symbols`` (None: all) judges the rejected messages of those symbols only: a
    message whose symbol cannot be read belongs to no symbol, so only an audit of all symbols
    counts and judges it. ``dlq``: the origins of the processor's DLQ records, if read."""
    out = RejectionCheck()

    def note(m: Mismatch) -> None:
        if len(out.listed) < MAX_LISTED:
            out.listed.append(m)

    for (pid, offset), (reason, symbol) in sorted(rejected.items()):
        if symbols is not None and symbol not in symbols:
            continue
        out.by_symbol.setdefault(symbol or UNKNOWN_SYMBOL, Counter())[reason] += 1
        if dlq is not None:
            if (pid, offset) in dlq:
                out.in_dlq += 1
            else:
                out.not_in_dlq += 1
        got = recorded.get((pid, offset))
        if got is None:
            out.unrecorded += 1
            note(Mismatch(pid, offset, reason, "none"))
        elif got != reason:
            out.differs += 1
            note(Mismatch(pid, offset, reason, got))
    for pid, offset in sorted(valid_recorded):
        got = recorded.get((pid, offset))
        if got is not None:
            out.unexpected += 1
            note(Mismatch(pid, offset, "valid", got))
    return out
