"""Aggregation: a classified batch -> partial candles, id ranges and the rows the driver needs,
in one hash aggregation."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as sf

from cryptopipe.processor.intervals import Interval
from cryptopipe.processor.summary import STATUS_ACCEPTED, STATUS_LATE, STATUS_REJECTED, window_key
from cryptopipe.processor.transform.latency import latency_bucket
from cryptopipe.processor.transform.rank import ID_BITS, TIME_BITS, packed_rank, rank_id, rank_time
from cryptopipe.processor.transform.validation import TRACEPARENT


def new_id_ranges(accepted: DataFrame) -> DataFrame:
    """Accepted (distinct) ids -> compact ``[lo, hi]`` ranges per symbol (gaps and islands)."""

    w = Window.partitionBy("symbol").orderBy("trade_id")
    return (
        accepted.select("symbol", "trade_id")
        .withColumn("island", sf.col("trade_id") - sf.row_number().over(w))
        .groupBy("symbol", "island")
        .agg(sf.min("trade_id").alias("lo"), sf.max("trade_id").alias("hi"))
        .select("symbol", "lo", "hi")
    )


# the fields of a late, rejected or traced row that the driver needs one by one
ROW_FIELDS = (
    "topic",
    "partition",
    "offset",
    "raw",
    "raw_size",
    "reason",
    "detail",
    "watermark_us",
    TRACEPARENT,
    "trade_id",
    "price",
    "quantity",
    "trade_time_us",
    "is_buyer_maker",
)


class BatchSummary:
    """A classified batch -> everything the driver needs, as ONE hash aggregation (one job).

    Groups are (symbol, status, the window of every directly aggregated interval, the high
    bits of trade time and id, latency bucket, row): a group of accepted trades is a partial
    candle of each of those windows (exact DECIMAL sums, open/close by the packed rank) and a
    set of distinct trade ids (its ``lo``, ``hi`` and count); ``row`` is null except for late,
    rejected and traced messages, which thus come back one per group with their own fields.
    Windows and high bits are null for every status but accepted, so those form few groups.
    """

    def __init__(self, direct: list[Interval]) -> None:
        accepted = sf.col("status") == STATUS_ACCEPTED
        self._windows = [
            sf.when(
                accepted,
                sf.col("trade_time_us") - sf.pmod(sf.col("trade_time_us"), sf.lit(i.micros)),
            ).alias(window_key(i))
            for i in direct
        ] + [
            sf.when(accepted, sf.shiftright("trade_time_us", TIME_BITS)).alias("time_hi"),
            sf.when(accepted, sf.shiftright("trade_id", ID_BITS)).alias("id_hi"),
        ]
        one_by_one = (
            sf.col("status").isin(STATUS_LATE, STATUS_REJECTED) | sf.col(TRACEPARENT).isNotNull()
        )
        self._row = sf.when(one_by_one, sf.struct(*[sf.col(f) for f in ROW_FIELDS])).alias("row")
        self._aggs = [
            sf.count(sf.lit(1)).alias("n"),
            sf.max("trade_time_us").alias("max_time_us"),
            sf.min("trade_id").alias("lo"),
            sf.max("trade_id").alias("hi"),
            sf.min("rank").alias("first_rank"),
            sf.max("rank").alias("last_rank"),
            sf.min_by("price", "rank").alias("open"),
            sf.max_by("price", "rank").alias("close"),
            sf.max("price").alias("high"),
            sf.min("price").alias("low"),
            sf.sum("quantity").alias("volume"),
            # try_: the rows of every status are aggregated, and an out_of_range rejected
            # row's product would overflow (it is null instead; accepted rows never are)
            sf.sum(sf.try_multiply("price", "quantity")).alias("quote_volume"),
            sf.sum(
                sf.when(~sf.col("is_buyer_maker"), sf.col("quantity")).otherwise(sf.lit(0))
            ).alias("taker_buy_volume"),
        ]
        self._final = [
            *[sf.col(window_key(i)) for i in direct],
            sf.col("symbol"),
            sf.col("status"),
            sf.col("bucket"),
            sf.col("row"),
            *[sf.col(a) for a in ("n", "max_time_us", "lo", "hi")],
            *[sf.col(a) for a in ("open", "high", "low", "close", "volume", "quote_volume")],
            sf.col("taker_buy_volume"),
            rank_id("first_rank").alias("first_trade_id"),
            rank_id("last_rank").alias("last_trade_id"),
            rank_time("first_rank").alias("open_trade_time_us"),
            rank_time("last_rank").alias("close_trade_time_us"),
        ]
        self._keys = [window_key(i) for i in direct] + [
            "time_hi",
            "id_hi",
            "symbol",
            "status",
            "bucket",
            "row",
        ]

    def apply(self, classified: DataFrame, now_us: int) -> DataFrame:
        keyed = classified.select(
            "*",
            *self._windows,
            latency_bucket(now_us).alias("bucket"),
            self._row,
            packed_rank().alias("rank"),
        )
        return keyed.groupBy(*self._keys).agg(*self._aggs).select(*self._final)
