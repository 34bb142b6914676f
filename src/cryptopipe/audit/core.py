"""The audit's pure core: trades seen on the topic against trades counted in MySQL.

For each symbol the topic side keeps the distinct trade ids (as compact ranges, so millions of
trades cost a few ranges), how many messages repeated an id, and the holes between ids. For each
bar interval the MySQL side gives the sum of ``trade_count`` and the first/last trade ids of the
candles, plus the trades recorded as late (not in any candle, by contract).

A symbol/interval is complete when ``candle trades + late trades == distinct topic trades``;
fewer means trades are missing, more means some were double counted. Holes in the topic's id
sequence are trades the producer never delivered (Binance ids are per-symbol sequences).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cryptopipe.processor import ranges as idranges

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
        return sum(hi - lo + 1 for lo, hi in self.ranges)

    @property
    def first_id(self) -> int | None:
        return self.ranges[0][0] if self.ranges else None

    @property
    def last_id(self) -> int | None:
        return self.ranges[-1][1] if self.ranges else None

    def gaps(self) -> list[idranges.Range]:
        """Missing id ranges between the first and last id seen."""
        return [(a[1] + 1, b[0] - 1) for a, b in zip(self.ranges, self.ranges[1:], strict=False)]

    def contains(self, trade_id: int) -> bool:
        return idranges.contains(self.ranges, trade_id)


@dataclass(frozen=True, slots=True)
class CandleTotals:
    """What MySQL holds for one symbol and interval inside the audited bounds."""

    trade_count: int
    first_trade_id: int | None
    last_trade_id: int | None
    late_ids: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class IntervalResult:
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
    candle_first_id: int | None
    candle_last_id: int | None
    # messages of the symbol the processor's rules reject (any time: not trades, not missing)
    rejected_messages: int = 0

    @property
    def counted(self) -> int:
        return self.candle_trades + self.late_trades

    @property
    def missing(self) -> int:
        """Trades on the topic that MySQL does not account for."""
        return max(0, self.topic_distinct - self.counted)

    @property
    def double_counted(self) -> int:
        """Trades MySQL accounts for beyond the distinct trades on the topic."""
        return max(0, self.counted - self.topic_distinct)

    @property
    def ids_match(self) -> bool:
        if self.candle_trades == 0:
            return True
        return (self.candle_first_id, self.candle_last_id) == (
            self.expected_first_id,
            self.expected_last_id,
        )

    # set by audit(): the topic's first/last id once late trades are set aside
    expected_first_id: int | None = None
    expected_last_id: int | None = None

    @property
    def ok(self) -> bool:
        return (
            self.missing == 0
            and self.double_counted == 0
            and self.topic_missing_ids == 0
            and self.ids_match
        )

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
            out.append(
                f"first/last id {self.candle_first_id}/{self.candle_last_id} != "
                f"topic {self.expected_first_id}/{self.expected_last_id}"
            )
        return out


def first_last_excluding(tally: IdTally, excluded: Iterable[int]) -> tuple[int | None, int | None]:
    """The tally's first and last id once ``excluded`` ids (late trades) are set aside."""
    skip = idranges.compact(excluded)
    remaining = [r for lo, hi in tally.ranges for r in _subtract((lo, hi), skip)]
    if not remaining:
        return None, None
    return remaining[0][0], remaining[-1][1]


def _subtract(rng: idranges.Range, holes: Sequence[idranges.Range]) -> list[idranges.Range]:
    lo, hi = rng
    out = []
    for h_lo, h_hi in holes:
        if h_hi < lo or h_lo > hi:
            continue
        if h_lo > lo:
            out.append((lo, h_lo - 1))
        lo = h_hi + 1
        if lo > hi:
            return out
    out.append((lo, hi))
    return out


def compare(
    symbol: str, interval: str, tally: IdTally, totals: CandleTotals, rejected: int = 0
) -> IntervalResult:
    """One symbol and interval: the topic's tally against MySQL's totals (``rejected``: the
    symbol's messages that are no trades, shown beside them)."""
    late_on_topic = {i for i in totals.late_ids if tally.contains(i)}
    first, last = first_last_excluding(tally, late_on_topic)
    gaps = tally.gaps()
    return IntervalResult(
        symbol=symbol,
        interval=interval,
        topic_messages=tally.messages,
        topic_duplicates=tally.duplicates,
        topic_distinct=tally.distinct,
        topic_first_id=tally.first_id,
        topic_last_id=tally.last_id,
        topic_gap_ranges=len(gaps),
        topic_missing_ids=sum(hi - lo + 1 for lo, hi in gaps),
        candle_trades=totals.trade_count,
        late_trades=len(late_on_topic),
        candle_first_id=totals.first_trade_id,
        candle_last_id=totals.last_trade_id,
        expected_first_id=first,
        expected_last_id=last,
        rejected_messages=rejected,
    )


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
