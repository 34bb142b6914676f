"""Rank packing: (trade time, trade id) as one BIGINT that orders a group's trades."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as sf

# (trade time, trade id) packed into one BIGINT, the rank that orders a group's trades for
# open (min) and close (max): a long (unlike a struct or a DECIMAL(38,0)) makes min_by/max_by
# plain long comparisons in the hash aggregation buffer. The low TIME_BITS of the time and the
# low ID_BITS of the id are packed; their high parts are group keys, so within a group the
# order of the packed rank is the order of (time, id). 26 + 37 = 63 bits: a positive long.
TIME_BITS = 26  # 67 s of µs: a window of 1 s to 1 min rarely straddles two
ID_BITS = 37


def _low_bits(name: str, bits: int) -> Column:
    return sf.col(name).bitwiseAND(sf.lit((1 << bits) - 1))


def packed_rank() -> Column:
    return sf.shiftleft(_low_bits("trade_time_us", TIME_BITS), ID_BITS).bitwiseOR(
        _low_bits("trade_id", ID_BITS)
    )


def rank_time(rank: str) -> Column:
    return sf.shiftleft(sf.col("time_hi"), TIME_BITS).bitwiseOR(
        sf.shiftright(sf.col(rank), ID_BITS)
    )


def rank_id(rank: str) -> Column:
    return sf.shiftleft(sf.col("id_hi"), ID_BITS).bitwiseOR(_low_bits(rank, ID_BITS))
