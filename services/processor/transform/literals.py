"""Per-batch state as SQL literals: the stored watermarks and the stored ranges of counted
trade ids, looked up by the row's symbol."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as sf

from cryptopipe.idranges import Range

# "no trade seen yet": valid trade times are >= MIN_TIME_US, so nothing is late against it
NO_TRADE_YET = 0


def sql_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# Per-batch values (stored state, the clock) enter the plan as map literals: Spark's generated
# code reads a map literal from a referenced object, while it inlines a number literal into the
# Java source. The stages then have the same code in every batch, so Spark compiles them once
# and the JIT keeps their machine code (a new literal would mean both again, each batch).


def map_literal(pairs: list[tuple[str, str]], sql_type: str) -> str:
    """SQL of a MAP literal (typed, also when empty)."""
    if not pairs:
        return f"CAST(map() AS {sql_type})"
    return "map(" + ", ".join(f"{k}, {v}" for k, v in pairs) + ")"


def watermark_lookup(stored: dict[str, int]) -> Column:
    """Stored newest trade time of the row's symbol (or "none yet"), as one SQL expression."""
    pairs = [(sql_str(sym), f"{int(t)}L") for sym, t in sorted(stored.items())]
    marks = map_literal(pairs, "MAP<STRING, BIGINT>")
    return sf.expr(f"coalesce(try_element_at({marks}, symbol), {NO_TRADE_YET}L)")


def counted_inline(stored: dict[str, list[Range]]) -> Column:
    """Is (symbol, trade_id) in the stored ranges? A quick test against the span of the
    symbol's ranges (a new trade is above it), then a look through its ranges."""
    items = sorted((sym, rs) for sym, rs in stored.items() if rs)
    lows = map_literal(
        [(sql_str(sym), f"{int(rs[0][0])}L") for sym, rs in items], "MAP<STRING, BIGINT>"
    )
    highs = map_literal(
        [(sql_str(sym), f"{int(rs[-1][1])}L") for sym, rs in items], "MAP<STRING, BIGINT>"
    )
    lists = map_literal(
        [
            (
                sql_str(sym),
                "array("
                + ", ".join(f"named_struct('lo', {int(lo)}L, 'hi', {int(hi)}L)" for lo, hi in rs)
                + ")",
            )
            for sym, rs in items
        ],
        "MAP<STRING, ARRAY<STRUCT<lo: BIGINT, hi: BIGINT>>>",
    )
    return sf.expr(
        f"coalesce(trade_id BETWEEN try_element_at({lows}, symbol) "
        f"AND try_element_at({highs}, symbol), false) "
        f"AND coalesce(exists(try_element_at({lists}, symbol), "
        "r -> trade_id BETWEEN r.lo AND r.hi), false)"
    )
