"""The driver's side of a batch: the groups of one Spark aggregation -> what the batch decided.

:class:`cryptopipe.processor.transform.BatchSummary` sums a classified batch up in one job; each
of its groups is a mapping with the keys (``symbol``, ``status``, one window start per directly
aggregated interval, latency ``bucket``, ``row``) and the aggregates (``n``, ``max_time_us``,
``lo``/``hi`` trade ids, the partial candle columns). :func:`fold` turns them into counts,
candles, id ranges and the late / rejected / traced rows. Pure: no Spark, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptopipe import idranges
from cryptopipe.dlq import DlqReason
from cryptopipe.processor.batch import LateTrade, RejectedRow
from cryptopipe.processor.candles import PartialCandle, merge_all, rollup
from cryptopipe.processor.intervals import Interval
from cryptopipe.processor.trade_spans import MAX_TRACED_PER_BATCH, TracedTrade

STATUS_ACCEPTED = "accepted"
STATUS_DUPLICATE = "duplicate"
STATUS_LATE = "late"
STATUS_REJECTED = "rejected"

Group = Mapping[str, Any]


def window_key(interval: Interval) -> str:
    """The group key holding the start of ``interval``'s window (null unless accepted)."""
    return f"w_{interval.label}"


@dataclass(slots=True)
class Summary:
    by_status: dict[str, int] = field(default_factory=dict)
    # newest trade time per symbol over the valid rows (accepted, duplicate, late)
    symbol_max_time_us: dict[str, int] = field(default_factory=dict)
    # (latency bucket middle µs, accepted trades in it), sorted
    latency_buckets: list[tuple[int, int]] = field(default_factory=list)
    candles: list[PartialCandle] = field(default_factory=list)
    # the accepted ids per symbol as ranges; None if a symbol's ids have a hole that the
    # groups cannot place (then the
    # caller must compute them from the rows)
    new_ranges: dict[str, list[idranges.Range]] | None = None
    late: list[LateTrade] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    traced: list[TracedTrade] = field(default_factory=list)


def _partial(g: Group, interval: Interval) -> PartialCandle:
    start = int(g[window_key(interval)])
    return PartialCandle(
        symbol=str(g["symbol"]),
        bar_interval=interval.label,
        window_start_us=start,
        window_end_us=start + interval.micros,
        open=g["open"],
        high=g["high"],
        low=g["low"],
        close=g["close"],
        volume=g["volume"],
        quote_volume=g["quote_volume"],
        trade_count=int(g["n"]),
        taker_buy_volume=g["taker_buy_volume"],
        first_trade_id=int(g["first_trade_id"]),
        last_trade_id=int(g["last_trade_id"]),
        open_trade_time_us=int(g["open_trade_time_us"]),
        close_trade_time_us=int(g["close_trade_time_us"]),
    )


def _late(symbol: str, r: Mapping[str, Any]) -> LateTrade:
    return LateTrade(
        symbol=symbol,
        trade_id=int(r["trade_id"]),
        price=r["price"],
        quantity=r["quantity"],
        trade_time_us=int(r["trade_time_us"]),
        is_buyer_maker=bool(r["is_buyer_maker"]),
        watermark_us=int(r["watermark_us"]),
        topic=str(r["topic"]),
        partition=int(r["partition"]),
        offset=int(r["offset"]),
    )


def _rejected(r: Mapping[str, Any]) -> RejectedRow:
    return RejectedRow(
        topic=str(r["topic"]),
        partition=int(r["partition"]),
        offset=int(r["offset"]),
        reason=DlqReason(r["reason"]),
        detail=str(r["detail"] or ""),
        raw=None if r["raw"] is None else bytes(r["raw"]),
        raw_size=None if r["raw_size"] is None else int(r["raw_size"]),
    )


def _traced(symbol: str | None, status: str, r: Mapping[str, Any]) -> TracedTrade:
    return TracedTrade(
        traceparent=str(r["traceparent"]),
        symbol=symbol,
        trade_id=None if r["trade_id"] is None else int(r["trade_id"]),
        status=status,
        trade_time_us=None if r["trade_time_us"] is None else int(r["trade_time_us"]),
        partition=int(r["partition"]),
        offset=int(r["offset"]),
    )


def _new_ranges(
    runs: dict[str, list[idranges.Range]], holey: set[str], accepted_n: dict[str, int]
) -> dict[str, list[idranges.Range]] | None:
    """The accepted ids of each symbol as ranges, or None if the groups cannot tell them.

    A symbol's ids are split over many groups (its windows, latency buckets, a traced trade's
    own group), so one group's ids often interleave with another's: the group has holes that
    the others fill. Accepted ids are distinct, so when a symbol's groups hold as many ids as
    lie between its smallest and largest, they are all of them: one range. Only a real hole
    (an id the batch lacks: a gap in the stream, a duplicate or late trade amid accepted ones)
    leaves the answer to the rows."""
    out: dict[str, list[idranges.Range]] = {}
    for symbol, rs in runs.items():
        lo, hi = min(r[0] for r in rs), max(r[1] for r in rs)
        if accepted_n[symbol] == hi - lo + 1:
            out[symbol] = [(lo, hi)]
        elif symbol in holey:
            return None
        else:
            out[symbol] = idranges.normalize(rs)
    return out


def fold(groups: Iterable[Group], direct: list[Interval], rolled: list[Interval]) -> Summary:
    """The groups of one batch -> its :class:`Summary`.

    ``direct`` are the intervals the groups carry a window key for (the finest first),
    ``rolled`` the multiples of the finest one, merged from its candles."""
    out = Summary()
    per_bucket: dict[int, int] = {}
    partials: dict[str, list[PartialCandle]] = {i.label: [] for i in direct}
    runs: dict[str, list[idranges.Range]] = {}
    holey: set[str] = set()  # symbols with a group whose ids are not all of its lo..hi
    accepted_n: dict[str, int] = {}
    traced: list[tuple[int, int, TracedTrade]] = []
    for g in groups:
        status, n = str(g["status"]), int(g["n"])
        symbol = None if g["symbol"] is None else str(g["symbol"])
        out.by_status[status] = out.by_status.get(status, 0) + n
        if symbol is not None and status != STATUS_REJECTED:
            t = int(g["max_time_us"])
            out.symbol_max_time_us[symbol] = max(out.symbol_max_time_us.get(symbol, t), t)
        if g["bucket"] is not None:
            per_bucket[int(g["bucket"])] = per_bucket.get(int(g["bucket"]), 0) + n
        if status == STATUS_ACCEPTED and symbol is not None:
            for interval in direct:
                partials[interval.label].append(_partial(g, interval))
            lo, hi = int(g["lo"]), int(g["hi"])
            # accepted ids are distinct: n of them between lo and hi are all of lo..hi
            if hi - lo + 1 != n:
                holey.add(symbol)
            runs.setdefault(symbol, []).append((lo, hi))
            accepted_n[symbol] = accepted_n.get(symbol, 0) + n
        row = g["row"]
        if row is None:
            continue
        if status == STATUS_REJECTED:
            out.rejected.append(_rejected(row))
        elif status == STATUS_LATE and symbol is not None:
            out.late.append(_late(symbol, row))
        if row["traceparent"] is not None:
            traced.append((int(row["partition"]), int(row["offset"]), _traced(symbol, status, row)))
    out.latency_buckets = sorted(per_bucket.items())
    merged = {i.label: merge_all(partials[i.label]) for i in direct}
    for interval in direct:
        out.candles += merged[interval.label]
    for interval in rolled:
        out.candles += rollup(merged[direct[0].label], interval.label, interval.micros)
    out.new_ranges = _new_ranges(runs, holey, accepted_n)
    out.rejected.sort(key=lambda x: (x.partition, x.offset))
    out.late.sort(key=lambda x: (x.partition, x.offset))
    traced.sort(key=lambda x: (x[0], x[1]))
    out.traced = [t for _, _, t in traced[:MAX_TRACED_PER_BATCH]]
    return out
