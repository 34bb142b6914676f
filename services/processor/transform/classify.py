"""Classification of parsed rows: accepted / duplicate / late / rejected (see the package doc)."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as sf

from cryptopipe.idranges import Range
from cryptopipe.processor.settings import DEFAULT_EXCERPT_BYTES
from cryptopipe.processor.summary import (
    STATUS_ACCEPTED,
    STATUS_DUPLICATE,
    STATUS_LATE,
    STATUS_REJECTED,
)
from cryptopipe.processor.transform.literals import counted_inline, watermark_lookup
from cryptopipe.processor.transform.validation import TRACEPARENT, parse_columns

# what :meth:`BatchTransform.classify` returns (plus ``status``)
CLASSIFIED_COLUMNS = (
    "topic",
    "partition",
    "offset",
    "raw",
    "raw_size",
    "symbol",
    "trade_id",
    "price",
    "quantity",
    "trade_time_us",
    "is_buyer_maker",
    "reason",
    "detail",
    "watermark_us",
    TRACEPARENT,
)

# up to this many stored id ranges are checked with one SQL expression, more with a join
MAX_INLINE_RANGES = 512


class BatchTransform:
    """The per-batch Spark transformations, with every state-independent Column built once.

    Classification is partitioned by symbol: both windows, the candle aggregation and the id
    ranges then need no further shuffle.
    """

    def __init__(
        self,
        max_message_bytes: int,
        symbols: list[str],
        watermark_delay_us: int,
        excerpt_bytes: int = DEFAULT_EXCERPT_BYTES,
    ) -> None:
        self._stages = parse_columns(max_message_bytes, symbols, excerpt_bytes)
        self._delay = sf.lit(watermark_delay_us)
        valid = sf.col("reason").isNull()
        self._valid = valid
        # Kafka order of one symbol: its messages are all in one partition (key = symbol)
        by_arrival = (
            Window.partitionBy("symbol")
            .orderBy("partition", "offset")
            .rowsBetween(Window.unboundedPreceding, Window.currentRow)
        )
        by_trade = Window.partitionBy("symbol", "trade_id", "reason").orderBy("partition", "offset")
        self._newest = sf.max(sf.when(valid, sf.col("trade_time_us"))).over(by_arrival)
        self._delivery = sf.row_number().over(by_trade).alias("delivery")

    def parse(self, raw: DataFrame) -> DataFrame:
        df = raw
        for stage in self._stages:
            df = df.select(*stage)
        return df

    def classify(
        self,
        spark: SparkSession,
        parsed: DataFrame,
        stored_watermarks: dict[str, int],
        stored_ranges: dict[str, list[Range]],
    ) -> DataFrame:
        """Parsed rows -> plus ``watermark_us`` and ``status`` (accepted / duplicate / late /
        rejected)."""
        watermark = (
            sf.greatest(self._newest, watermark_lookup(stored_watermarks)) - self._delay
        ).alias("watermark_us")
        df = parsed.select("*", watermark, self._delivery)
        if sum(len(rs) for rs in stored_ranges.values()) <= MAX_INLINE_RANGES:
            counted = counted_inline(stored_ranges)
        else:
            rows = [(sym, lo, hi) for sym, rs in stored_ranges.items() for lo, hi in rs]
            known = spark.createDataFrame(rows, "r_symbol STRING, r_lo BIGINT, r_hi BIGINT")
            df = df.join(
                sf.broadcast(known),
                (sf.col("symbol") == sf.col("r_symbol"))
                & sf.col("trade_id").between(sf.col("r_lo"), sf.col("r_hi")),
                "left",
            )
            counted = sf.col("r_lo").isNotNull()
        status = (
            sf.when(~self._valid, sf.lit(STATUS_REJECTED))
            .when((sf.col("delivery") > 1) | counted, sf.lit(STATUS_DUPLICATE))
            .when(sf.col("trade_time_us") < sf.col("watermark_us"), sf.lit(STATUS_LATE))
            .otherwise(sf.lit(STATUS_ACCEPTED))
        )
        return df.select(*CLASSIFIED_COLUMNS, status.alias("status"))
