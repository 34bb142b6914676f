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


def parse(raw: DataFrame, *, max_message_bytes: int, symbols: list[str]) -> DataFrame:
    """Kafka rows -> one row per message with the typed trade fields and ``reason``/``detail``
    (both null for a valid trade)."""

    t = sf.from_json(
        sf.col("value").cast("string"),
        trade_schema(),
        {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt"},
    )
    df = raw.select(
        "topic",
        "partition",
        "offset",
        "value",
        sf.when(sf.length("value") <= max_message_bytes, t).alias("t"),
    )
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
    return df.select(
        "topic",
        "partition",
        "offset",
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
    )


def classify(
    spark: SparkSession,
    parsed: DataFrame,
    *,
    stored_watermarks: dict[str, int],
    stored_ranges: dict[str, list[Range]],
    watermark_delay_us: int,
) -> DataFrame:
    """Parsed rows -> plus ``watermark_us`` and ``status`` (accepted / duplicate / late /
    rejected), hash-partitioned by symbol: both windows, the candle aggregation and the id
    ranges then need no further shuffle."""
    valid = sf.col("reason").isNull()
    if stored_watermarks:
        pairs: list[Column] = []
        for sym, mark in sorted(stored_watermarks.items()):
            pairs += [sf.lit(sym), sf.lit(mark).cast("bigint")]
        prev_max = sf.coalesce(
            sf.try_element_at(sf.create_map(*pairs), sf.col("symbol")),
            sf.lit(NO_TRADE_YET).cast("bigint"),
        )
    else:
        prev_max = sf.lit(NO_TRADE_YET).cast("bigint")
    # Kafka order of one symbol: its messages are all in one partition (key = symbol)
    by_arrival = (
        Window.partitionBy("symbol")
        .orderBy("partition", "offset")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    by_trade = Window.partitionBy("symbol", "trade_id", "reason").orderBy("partition", "offset")
    newest = sf.max(sf.when(valid, sf.col("trade_time_us"))).over(by_arrival)
    df = parsed.select(
        "*",
        (sf.greatest(newest, prev_max) - sf.lit(watermark_delay_us)).alias("watermark_us"),
        sf.row_number().over(by_trade).alias("delivery"),
    )
    rows = [(sym, lo, hi) for sym, rs in stored_ranges.items() for lo, hi in rs]
    if rows:
        known = spark.createDataFrame(rows, "r_symbol STRING, r_lo BIGINT, r_hi BIGINT")
        df = df.join(
            sf.broadcast(known),
            (sf.col("symbol") == sf.col("r_symbol"))
            & sf.col("trade_id").between(sf.col("r_lo"), sf.col("r_hi")),
            "left",
        )
        counted = sf.col("r_lo").isNotNull()
    else:
        counted = sf.lit(False)
    status = (
        sf.when(~valid, sf.lit(STATUS_REJECTED))
        .when((sf.col("delivery") > 1) | counted, sf.lit(STATUS_DUPLICATE))
        .when(sf.col("trade_time_us") < sf.col("watermark_us"), sf.lit(STATUS_LATE))
        .otherwise(sf.lit(STATUS_ACCEPTED))
    )
    df = df.select("*", status.alias("status"))
    exceptional = sf.col("status").isin(STATUS_LATE, STATUS_REJECTED)

    def only_exceptional(name: str) -> Column:
        # kept for late/rejected rows only: the batch is cached, and caching columns that are
        # null for the usual row costs far less (measured ~25% of a batch)
        return sf.when(exceptional, sf.col(name)).alias(name)

    return df.select(
        only_exceptional("topic"),
        only_exceptional("partition"),
        only_exceptional("offset"),
        only_exceptional("raw"),
        "symbol",
        "trade_id",
        "price",
        "quantity",
        "trade_time_us",
        "is_buyer_maker",
        only_exceptional("reason"),
        only_exceptional("detail"),
        only_exceptional("watermark_us"),
        "status",
    )


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


def partial_candles(accepted: DataFrame, intervals: list[Interval]) -> DataFrame:
    """Accepted trades -> one partial candle per (symbol, interval, window) of this batch."""
    ranked = accepted.select(
        "symbol",
        "price",
        "quantity",
        "trade_time_us",
        "is_buyer_maker",
        _rank_key().alias("rank"),
    )
    out: DataFrame | None = None
    for interval in intervals:
        size = interval.micros
        # integer arithmetic only: floor to the window start
        start = sf.col("trade_time_us") - sf.pmod(sf.col("trade_time_us"), sf.lit(size))
        agg = (
            ranked.withColumn("window_start_us", start)
            .groupBy("symbol", "window_start_us")
            .agg(
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
            )
            .select(
                "symbol",
                sf.lit(interval.label).alias("bar_interval"),
                "window_start_us",
                (sf.col("window_start_us") + sf.lit(size)).alias("window_end_us"),
                "open",
                "high",
                "low",
                "close",
                "volume",
                "quote_volume",
                "trade_count",
                "taker_buy_volume",
                _rank_id("first_rank").alias("first_trade_id"),
                _rank_id("last_rank").alias("last_trade_id"),
                _rank_time("first_rank").alias("open_trade_time_us"),
                _rank_time("last_rank").alias("close_trade_time_us"),
            )
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
