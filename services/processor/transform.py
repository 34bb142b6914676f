"""The Spark side of a micro-batch: parse, validate, classify and aggregate (no I/O here).

Every function takes and returns DataFrames built from Spark SQL expressions only: no Python
UDFs and no float or double on the price/quantity path (DECIMAL(20,8) from the strings, sums
and products exact with ``spark.sql.decimalOperations.allowPrecisionLoss=false``).

Classification is deterministic for any split of the stream into micro-batches:
- *rejected*: failed parsing or validation (``reason`` says why);
- *duplicate*: a later delivery (by Kafka partition, offset) of a (symbol, trade_id) already
  seen in this batch, or whose id is in the stored ranges of counted ids;
- *late*: older than the symbol's watermark at that message, i.e. the newest trade time of the
  symbol up to this message in Kafka order (stored state + this batch) minus the delay. The key
  is the symbol, so a symbol's messages are one partition's offset order: any batch split
  gives the same watermark at every message;
- *accepted*: everything else; only these go into candles.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as sf

from cryptopipe.dlq import DlqReason
from cryptopipe.processor.intervals import Interval
from cryptopipe.processor.ranges import Range

PRICE_TYPE = "DECIMAL(20,8)"
# up to 12 integer and 8 fractional digits (DECIMAL(20,8)); more trailing zeros are harmless
DECIMAL_PATTERN = r"^-?[0-9]{1,12}(\.[0-9]{0,8}0*)?$"
SYMBOL_PATTERN = r"^[A-Z0-9]{2,20}$"
# trade times must be plausible epoch µs: 2001-09-09 .. 2100-01-01 (fixed, so replays agree)
MIN_TIME_US = 1_000_000_000_000_000
MAX_TIME_US = 4_102_444_800_000_000
# "no trade seen yet": valid trade times are >= MIN_TIME_US, so nothing is late against it
NO_TRADE_YET = 0

STATUS_ACCEPTED = "accepted"
STATUS_DUPLICATE = "duplicate"
STATUS_LATE = "late"
STATUS_REJECTED = "rejected"
TRACEPARENT = "traceparent"

REQUIRED_FIELDS = (
    "v",
    "exchange",
    "symbol",
    "trade_id",
    "price",
    "quantity",
    "trade_time_us",
    "event_time_us",
    "ingest_time_us",
    "is_buyer_maker",
)


def trade_schema() -> str:
    """The JSON schema of a v1 trade (DDL), plus the corrupt-record column."""
    return (
        "v INT, exchange STRING, symbol STRING, trade_id BIGINT, price STRING, quantity STRING, "
        "trade_time_us BIGINT, event_time_us BIGINT, ingest_time_us BIGINT, "
        "is_buyer_maker BOOLEAN, _corrupt STRING"
    )


def _parse_columns(max_message_bytes: int, symbols: list[str]) -> tuple[list[Column], list[Column]]:
    """The two projections of :meth:`BatchTransform.parse`: Kafka rows -> one row per message
    with the typed trade fields and ``reason``/``detail`` (both null for a valid trade).

    Built once per query: building a Column costs a py4j round trip, which a busy driver would
    otherwise pay per batch."""
    t = sf.from_json(
        sf.col("value").cast("string"),
        trade_schema(),
        {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt"},
    )
    traceparent = sf.try_element_at(
        sf.filter("headers", lambda h: h["key"] == sf.lit(TRACEPARENT)), sf.lit(1)
    )["value"].cast("string")
    stage1 = [
        sf.col("topic"),
        sf.col("partition"),
        sf.col("offset"),
        sf.col("value"),
        sf.when(sf.length("value") <= max_message_bytes, t).alias("t"),
        # W3C trace context of the few trades the producer sampled (null for the rest)
        traceparent.alias("traceparent"),
    ]
    fields = {name: sf.col(f"t.{name}") for name in REQUIRED_FIELDS}
    all_null = sf.lit(True)
    for col in fields.values():
        all_null = all_null & col.isNull()
    missing = sf.concat_ws(
        ",", *[sf.when(col.isNull(), sf.lit(name)) for name, col in fields.items()]
    )
    price_ok = fields["price"].rlike(DECIMAL_PATTERN)
    qty_ok = fields["quantity"].rlike(DECIMAL_PATTERN)
    price = sf.expr(f"try_cast(t.price AS {PRICE_TYPE})")
    qty = sf.expr(f"try_cast(t.quantity AS {PRICE_TYPE})")
    symbol_ok = fields["symbol"].rlike(SYMBOL_PATTERN)
    if symbols:
        symbol_ok = symbol_ok & fields["symbol"].isin(*symbols)
    time_ok = fields["trade_time_us"].between(MIN_TIME_US, MAX_TIME_US)

    def rule(cond: Column, reason: DlqReason, detail: Column) -> tuple[Column, str, Column]:
        return cond, reason.value, detail

    rules = [
        rule(sf.col("value").isNull(), DlqReason.NOT_JSON, sf.lit("empty message value")),
        rule(
            sf.length("value") > max_message_bytes,
            DlqReason.OVERSIZED,
            sf.concat(
                sf.lit("value of "), sf.length("value"), sf.lit(f" bytes > {max_message_bytes}")
            ),
        ),
        rule(
            sf.col("t").isNull() | (sf.col("t._corrupt").isNotNull() & all_null),
            DlqReason.NOT_JSON,
            sf.lit("value is not a JSON object"),
        ),
        rule(
            sf.col("t._corrupt").isNotNull(),
            DlqReason.WRONG_TYPE,
            sf.concat(sf.lit("wrong type in field(s): "), missing),
        ),
        rule(missing != "", DlqReason.MISSING_FIELD, sf.concat(sf.lit("missing: "), missing)),
        rule(
            fields["v"] != 1,
            DlqReason.SCHEMA_VERSION,
            sf.concat(sf.lit("schema version "), fields["v"].cast("string"), sf.lit(" is not 1")),
        ),
        rule(
            fields["exchange"] != "binance",
            DlqReason.UNSUPPORTED_EVENT,
            sf.concat(sf.lit("exchange "), fields["exchange"], sf.lit(" is not binance")),
        ),
        rule(~symbol_ok, DlqReason.UNKNOWN_SYMBOL, sf.concat(sf.lit("symbol "), fields["symbol"])),
        rule(
            ~(price_ok & qty_ok) | price.isNull() | qty.isNull(),
            DlqReason.BAD_DECIMAL,
            sf.concat(
                sf.lit("price/quantity not DECIMAL(20,8): "),
                fields["price"],
                sf.lit(" / "),
                fields["quantity"],
            ),
        ),
        rule(
            (price <= 0) | (qty <= 0),
            DlqReason.NON_POSITIVE,
            sf.concat(
                sf.lit("price/quantity must be > 0: "),
                fields["price"],
                sf.lit(" / "),
                fields["quantity"],
            ),
        ),
        rule(
            fields["trade_id"] < 0,
            DlqReason.NON_POSITIVE,
            sf.concat(sf.lit("trade_id must be >= 0: "), fields["trade_id"].cast("string")),
        ),
        rule(
            ~time_ok,
            DlqReason.BAD_TIME,
            sf.concat(
                sf.lit("trade_time_us out of range: "), fields["trade_time_us"].cast("string")
            ),
        ),
    ]
    reason: Column = sf.lit(None).cast("string")
    detail: Column = sf.lit(None).cast("string")
    for cond, name, text in reversed(rules):
        reason = sf.when(cond, sf.lit(name)).otherwise(reason)
        detail = sf.when(cond, text).otherwise(detail)
    stage2 = [
        sf.col("topic"),
        sf.col("partition"),
        sf.col("offset"),
        # the raw bytes are kept for rejected rows only (they go to the DLQ as they came)
        sf.when(reason.isNotNull(), sf.col("value")).alias("raw"),
        fields["symbol"].alias("symbol"),
        fields["trade_id"].alias("trade_id"),
        price.alias("price"),
        qty.alias("quantity"),
        fields["trade_time_us"].alias("trade_time_us"),
        fields["is_buyer_maker"].alias("is_buyer_maker"),
        reason.alias("reason"),
        detail.alias("detail"),
        sf.col("traceparent"),
    ]
    return stage1, stage2


# up to this many stored id ranges are checked with one SQL expression, more with a join
MAX_INLINE_RANGES = 512


def _sql_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _watermark_lookup(stored: dict[str, int]) -> Column:
    """Stored newest trade time of the row's symbol (or "none yet"), as one SQL expression."""
    if not stored:
        return sf.lit(NO_TRADE_YET).cast("bigint")
    pairs = ", ".join(f"{_sql_str(sym)}, {int(t)}L" for sym, t in sorted(stored.items()))
    return sf.expr(f"coalesce(try_element_at(map({pairs}), symbol), {NO_TRADE_YET}L)")


def _counted_inline(stored: dict[str, list[Range]]) -> Column:
    """Is (symbol, trade_id) in the stored ranges? One CASE expression."""
    if not stored:
        return sf.lit(False)
    branches = []
    for sym, rs in sorted(stored.items()):
        test = " OR ".join(f"trade_id BETWEEN {int(lo)} AND {int(hi)}" for lo, hi in rs)
        branches.append(f"WHEN {_sql_str(sym)} THEN ({test})")
    return sf.expr(f"coalesce(CASE symbol {' '.join(branches)} ELSE false END, false)")


class BatchTransform:
    """The per-batch Spark transformations, with every state-independent Column built once.

    Classification is partitioned by symbol: both windows, the candle aggregation and the id
    ranges then need no further shuffle.
    """

    def __init__(self, max_message_bytes: int, symbols: list[str], watermark_delay_us: int) -> None:
        self._stage1, self._stage2 = _parse_columns(max_message_bytes, symbols)
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
        exceptional = sf.col("status").isin(STATUS_LATE, STATUS_REJECTED)

        def only_exceptional(name: str, also: Column | None = None) -> Column:
            # kept for late/rejected rows only: the batch is cached, and caching columns that
            # are null for the usual row costs far less (measured ~25% of a batch)
            keep = exceptional if also is None else exceptional | also
            return sf.when(keep, sf.col(name)).alias(name)

        traced = sf.col(TRACEPARENT).isNotNull()  # their spans name partition and offset
        self._final = [
            only_exceptional("topic"),
            only_exceptional("partition", traced),
            only_exceptional("offset", traced),
            only_exceptional("raw"),
            sf.col("symbol"),
            sf.col("trade_id"),
            sf.col("price"),
            sf.col("quantity"),
            sf.col("trade_time_us"),
            sf.col("is_buyer_maker"),
            only_exceptional("reason"),
            only_exceptional("detail"),
            only_exceptional("watermark_us"),
            sf.col("status"),
            sf.col("traceparent"),
        ]

    def parse(self, raw: DataFrame) -> DataFrame:
        return raw.select(*self._stage1).select(*self._stage2)

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
            sf.greatest(self._newest, _watermark_lookup(stored_watermarks)) - self._delay
        ).alias("watermark_us")
        df = parsed.select("*", watermark, self._delivery)
        if sum(len(rs) for rs in stored_ranges.values()) <= MAX_INLINE_RANGES:
            counted = _counted_inline(stored_ranges)
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
        return df.select("*", status.alias("status")).select(*self._final)


# (trade time, trade id) packed into one DECIMAL(38,0): time * 10^19 + id. Ids are >= 0 and
# < 2^63 < 10^19, so the order of the packed key is the order of the pair. A decimal (unlike a
# struct) fits Spark's hash aggregation buffer, which keeps min_by/max_by fast.
RANK_SHIFT = 10**19
RANK_TYPE = "DECIMAL(38,0)"


def _shift() -> Column:
    return sf.expr(f"CAST('{RANK_SHIFT}' AS {RANK_TYPE})")


def _rank_key() -> Column:
    shift = _shift()
    return (
        sf.col("trade_time_us").cast(RANK_TYPE) * shift + sf.col("trade_id").cast(RANK_TYPE)
    ).cast(RANK_TYPE)


def _rank_time(name: str) -> Column:
    return sf.expr(f"CAST({name} DIV CAST('{RANK_SHIFT}' AS {RANK_TYPE}) AS BIGINT)")


def _rank_id(name: str) -> Column:
    return sf.expr(f"CAST({name} % CAST('{RANK_SHIFT}' AS {RANK_TYPE}) AS BIGINT)")


class CandleAggregation:
    """Partial candles per (symbol, interval, window); Columns built once per query."""

    def __init__(self, intervals: list[Interval]) -> None:
        self._ranked = [
            sf.col("symbol"),
            sf.col("price"),
            sf.col("quantity"),
            sf.col("trade_time_us"),
            sf.col("is_buyer_maker"),
            _rank_key().alias("rank"),
        ]
        self._per_interval: list[tuple[Column, list[Column], list[Column]]] = []
        for interval in intervals:
            size = interval.micros
            # integer arithmetic only: floor to the window start
            start = (
                sf.col("trade_time_us") - sf.pmod(sf.col("trade_time_us"), sf.lit(size))
            ).alias("window_start_us")
            aggs = [
                sf.min("rank").alias("first_rank"),
                sf.max("rank").alias("last_rank"),
                sf.min_by("price", "rank").alias("open"),
                sf.max_by("price", "rank").alias("close"),
                sf.max("price").alias("high"),
                sf.min("price").alias("low"),
                sf.sum("quantity").alias("volume"),
                sf.sum(sf.col("price") * sf.col("quantity")).alias("quote_volume"),
                sf.count(sf.lit(1)).alias("trade_count"),
                sf.sum(
                    sf.when(~sf.col("is_buyer_maker"), sf.col("quantity")).otherwise(sf.lit(0))
                ).alias("taker_buy_volume"),
            ]
            final = [
                sf.col("symbol"),
                sf.lit(interval.label).alias("bar_interval"),
                sf.col("window_start_us"),
                (sf.col("window_start_us") + sf.lit(size)).alias("window_end_us"),
                sf.col("open"),
                sf.col("high"),
                sf.col("low"),
                sf.col("close"),
                sf.col("volume"),
                sf.col("quote_volume"),
                sf.col("trade_count"),
                sf.col("taker_buy_volume"),
                _rank_id("first_rank").alias("first_trade_id"),
                _rank_id("last_rank").alias("last_trade_id"),
                _rank_time("first_rank").alias("open_trade_time_us"),
                _rank_time("last_rank").alias("close_trade_time_us"),
            ]
            self._per_interval.append((start, aggs, final))

    def apply(self, accepted: DataFrame) -> DataFrame:
        ranked = accepted.select(*self._ranked)
        out: DataFrame | None = None
        for start, aggs, final in self._per_interval:
            agg = (
                ranked.select("*", start)
                .groupBy("symbol", "window_start_us")
                .agg(*aggs)
                .select(*final)
            )
            out = agg if out is None else out.unionByName(agg)
        assert out is not None
        return out


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


def latency_bucket(now_us: int) -> Column:
    """Trade time rounded for the end-to-end latency histogram: the middle of a 10 ms bucket
    for trades of the last minute, of 1 s up to an hour old, of 1 min beyond (a catch-up batch
    of hours of backlog stays a few thousand groups). Null for rows that are not accepted."""
    age = sf.lit(now_us) - sf.col("trade_time_us")
    res = (
        sf.when(age < 60_000_000, sf.lit(10_000))
        .when(age < 3_600_000_000, sf.lit(1_000_000))
        .otherwise(sf.lit(60_000_000))
        .cast("bigint")
    )
    bucket = sf.col("trade_time_us") - sf.pmod(sf.col("trade_time_us"), res) + sf.shiftright(res, 1)
    return sf.when(sf.col("status") == STATUS_ACCEPTED, bucket)
