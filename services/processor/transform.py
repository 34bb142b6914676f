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

from cryptopipe.idranges import Range
from cryptopipe.processor.intervals import Interval
from cryptopipe.processor.settings import DEFAULT_EXCERPT_BYTES
from cryptopipe.processor.summary import (
    STATUS_ACCEPTED,
    STATUS_DUPLICATE,
    STATUS_LATE,
    STATUS_REJECTED,
    window_key,
)
from cryptopipe.trade_rules import (
    CORRUPT_COLUMN,
    DECIMAL_BODY,
    EXCHANGE,
    FIELD_TYPES,
    MAX_NOTIONAL,
    MAX_TIME_US,
    MIN_TIME_US,
    NOTIONAL_PRICE_BOUND,
    NOTIONAL_QTY_BOUND,
    PRICE_TYPE,
    REQUIRED_FIELDS,
    RULES,
    SCHEMA_VERSION,
    SYMBOL_BODY,
    Rule,
    spark_pattern,
)

# "no trade seen yet": valid trade times are >= MIN_TIME_US, so nothing is late against it
NO_TRADE_YET = 0

TRACEPARENT = "traceparent"


def trade_schema() -> str:
    """The JSON schema of a v1 trade (DDL), plus the corrupt-record column."""
    return ", ".join(
        [*(f"{name} {kind}" for name, kind in FIELD_TYPES), f"{CORRUPT_COLUMN} STRING"]
    )


def _parse_columns(
    max_message_bytes: int, symbols: list[str], excerpt_bytes: int = DEFAULT_EXCERPT_BYTES
) -> list[list[Column]]:
    """The projections of :meth:`BatchTransform.parse`: Kafka rows -> one row per message
    with the typed trade fields and ``reason``/``detail`` (both null for a valid trade).

    1. the JSON parsed once; 2. each typed field and check computed once (the optimizer does
    not merge a projection into the next when that would repeat a costly expression);
    3. whether any rule fires; 4. ``reason`` and ``detail``: a valid trade costs one boolean
    test, the chain of rules (and the building of ``detail`` strings) runs for invalid ones.

    Built once per query: building a Column costs a py4j round trip, which a busy driver would
    otherwise pay per batch."""
    t = sf.from_json(
        sf.col("value").cast("string"),
        trade_schema(),
        {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_COLUMN},
    )
    # W3C trace context of the few trades the producer sampled (null for the rest); the
    # header lookup is interpreted (a lambda), so only messages with headers pay for it
    traceparent = sf.when(
        sf.size("headers") > 0,
        sf.try_element_at(
            sf.filter("headers", lambda h: h["key"] == sf.lit(TRACEPARENT)), sf.lit(1)
        )["value"].cast("string"),
    )
    size = sf.length("value")
    stage1 = [
        sf.col("topic"),
        sf.col("partition"),
        sf.col("offset"),
        sf.col("value"),
        size.alias("size"),
        sf.when(size <= max_message_bytes, t).alias("t"),
        traceparent.alias("traceparent"),
    ]
    fields = {name: sf.col(f"t.{name}") for name in REQUIRED_FIELDS}
    symbol_ok = fields["symbol"].rlike(spark_pattern(SYMBOL_BODY))
    if symbols:
        symbol_ok = symbol_ok & fields["symbol"].isin(*symbols)

    def exact(text: Column) -> Column:
        # null unless the string is a DECIMAL(20,8) as it stands (a cast would round)
        return sf.when(text.rlike(spark_pattern(DECIMAL_BODY)), text.try_cast(PRICE_TYPE))

    any_null = sf.lit(False)
    all_null = sf.lit(True)
    for col in fields.values():
        any_null = any_null | col.isNull()
        all_null = all_null & col.isNull()
    stage2 = [
        sf.col("topic"),
        sf.col("partition"),
        sf.col("offset"),
        sf.col("value"),
        sf.col("size"),
        sf.col("t").isNull().alias("no_json"),
        sf.col(f"t.{CORRUPT_COLUMN}").isNotNull().alias("corrupt"),
        all_null.alias("all_null"),
        any_null.alias("any_null"),
        *[col.alias(f"t_{name}") for name, col in fields.items()],
        symbol_ok.alias("symbol_ok"),
        exact(fields["price"]).alias("price"),
        exact(fields["quantity"]).alias("quantity"),
        sf.col("traceparent"),
    ]
    f = {name: sf.col(f"t_{name}") for name in REQUIRED_FIELDS}
    price, qty = sf.col("price"), sf.col("quantity")
    # price x quantity > MAX_NOTIONAL, exactly: the multiplication (try_: null on overflow) runs
    # only for a trade that is not obviously below the limit (1e7 x 1e8 = MAX_NOTIONAL)
    notional = sf.try_multiply(price, qty)
    too_big = ~((price < sf.lit(NOTIONAL_PRICE_BOUND)) & (qty < sf.lit(NOTIONAL_QTY_BOUND))) & (
        notional.isNull() | (notional > sf.lit(MAX_NOTIONAL))
    )
    time_ok = f["trade_time_us"].between(MIN_TIME_US, MAX_TIME_US)
    missing = sf.concat_ws(",", *[sf.when(col.isNull(), sf.lit(name)) for name, col in f.items()])

    # each rule's condition and detail; their order and reasons are trade_rules.RULES
    checks: dict[Rule, tuple[Column, Column]] = {
        Rule.EMPTY: (sf.col("value").isNull(), sf.lit("empty message value")),
        Rule.SIZE: (
            sf.col("size") > max_message_bytes,
            sf.concat(sf.lit("value of "), sf.col("size"), sf.lit(f" bytes > {max_message_bytes}")),
        ),
        Rule.JSON: (
            sf.col("no_json") | (sf.col("corrupt") & sf.col("all_null")),
            sf.lit("value is not a JSON object"),
        ),
        Rule.TYPES: (sf.col("corrupt"), sf.concat(sf.lit("wrong type in field(s): "), missing)),
        Rule.REQUIRED: (sf.col("any_null"), sf.concat(sf.lit("missing: "), missing)),
        Rule.VERSION: (
            f["v"] != SCHEMA_VERSION,
            sf.concat(
                sf.lit("schema version "),
                f["v"].cast("string"),
                sf.lit(f" is not {SCHEMA_VERSION}"),
            ),
        ),
        Rule.EXCHANGE: (
            f["exchange"] != EXCHANGE,
            sf.concat(sf.lit("exchange "), f["exchange"], sf.lit(f" is not {EXCHANGE}")),
        ),
        Rule.SYMBOL: (~sf.col("symbol_ok"), sf.concat(sf.lit("symbol "), f["symbol"])),
        Rule.DECIMAL: (
            price.isNull() | qty.isNull(),
            sf.concat(
                sf.lit(f"price/quantity not {PRICE_TYPE}: "),
                f["price"],
                sf.lit(" / "),
                f["quantity"],
            ),
        ),
        Rule.POSITIVE: (
            (price <= 0) | (qty <= 0),
            sf.concat(
                sf.lit("price/quantity must be > 0: "),
                f["price"],
                sf.lit(" / "),
                f["quantity"],
            ),
        ),
        Rule.NOTIONAL: (
            too_big,
            sf.concat(
                sf.lit(f"price x quantity above {MAX_NOTIONAL:.0e}: "),
                f["price"],
                sf.lit(" x "),
                f["quantity"],
            ),
        ),
        Rule.TRADE_ID: (
            f["trade_id"] < 0,
            sf.concat(sf.lit("trade_id must be >= 0: "), f["trade_id"].cast("string")),
        ),
        Rule.TIME: (
            ~time_ok,
            sf.concat(sf.lit("trade_time_us out of range: "), f["trade_time_us"].cast("string")),
        ),
    }
    rules = [(checks[r][0], reason.value, checks[r][1]) for r, reason in RULES]
    # a rule fires when its condition is TRUE (null is not), as in a CASE WHEN
    fires = sf.lit(False)
    for cond, _name, _text in rules:
        fires = fires | sf.coalesce(cond, sf.lit(False))
    reason: Column = sf.lit(None).cast("string")
    detail: Column = sf.lit(None).cast("string")
    for cond, name, text in reversed(rules):
        reason = sf.when(cond, sf.lit(name)).otherwise(reason)
        detail = sf.when(cond, text).otherwise(detail)
    invalid = sf.col("invalid")
    stage3 = [
        sf.col("topic"),
        sf.col("partition"),
        sf.col("offset"),
        # the raw bytes are kept for rejected rows only (they go to the DLQ as they came); of
        # an oversized value only its first excerpt_bytes: the megabyte never leaves Spark
        sf.when(
            invalid,
            sf.when(
                sf.col("size") > max_message_bytes, sf.substring("value", 1, excerpt_bytes)
            ).otherwise(sf.col("value")),
        ).alias("raw"),
        sf.when(invalid, sf.col("size")).alias("raw_size"),
        f["symbol"].alias("symbol"),
        f["trade_id"].alias("trade_id"),
        price.alias("price"),
        qty.alias("quantity"),
        f["trade_time_us"].alias("trade_time_us"),
        f["is_buyer_maker"].alias("is_buyer_maker"),
        sf.when(invalid, reason).alias("reason"),
        sf.when(invalid, detail).alias("detail"),
        sf.col("traceparent"),
    ]
    return [stage1, stage2, [sf.col("*"), fires.alias("invalid")], stage3]


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


def _sql_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# Per-batch values (stored state, the clock) enter the plan as map literals: Spark's generated
# code reads a map literal from a referenced object, while it inlines a number literal into the
# Java source. The stages then have the same code in every batch, so Spark compiles them once
# and the JIT keeps their machine code (a new literal would mean both again, each batch).


def _map_literal(pairs: list[tuple[str, str]], sql_type: str) -> str:
    """SQL of a MAP literal (typed, also when empty)."""
    if not pairs:
        return f"CAST(map() AS {sql_type})"
    return "map(" + ", ".join(f"{k}, {v}" for k, v in pairs) + ")"


def _watermark_lookup(stored: dict[str, int]) -> Column:
    """Stored newest trade time of the row's symbol (or "none yet"), as one SQL expression."""
    pairs = [(_sql_str(sym), f"{int(t)}L") for sym, t in sorted(stored.items())]
    marks = _map_literal(pairs, "MAP<STRING, BIGINT>")
    return sf.expr(f"coalesce(try_element_at({marks}, symbol), {NO_TRADE_YET}L)")


def _counted_inline(stored: dict[str, list[Range]]) -> Column:
    """Is (symbol, trade_id) in the stored ranges? A quick test against the span of the
    symbol's ranges (a new trade is above it), then a look through its ranges."""
    items = sorted((sym, rs) for sym, rs in stored.items() if rs)
    lows = _map_literal(
        [(_sql_str(sym), f"{int(rs[0][0])}L") for sym, rs in items], "MAP<STRING, BIGINT>"
    )
    highs = _map_literal(
        [(_sql_str(sym), f"{int(rs[-1][1])}L") for sym, rs in items], "MAP<STRING, BIGINT>"
    )
    lists = _map_literal(
        [
            (
                _sql_str(sym),
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
        self._stages = _parse_columns(max_message_bytes, symbols, excerpt_bytes)
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
        return df.select(*CLASSIFIED_COLUMNS, status.alias("status"))


# (trade time, trade id) packed into one BIGINT, the rank that orders a group's trades for
# open (min) and close (max): a long (unlike a struct or a DECIMAL(38,0)) makes min_by/max_by
# plain long comparisons in the hash aggregation buffer. The low TIME_BITS of the time and the
# low ID_BITS of the id are packed; their high parts are group keys, so within a group the
# order of the packed rank is the order of (time, id). 26 + 37 = 63 bits: a positive long.
TIME_BITS = 26  # 67 s of µs: a window of 1 s to 1 min rarely straddles two
ID_BITS = 37


def _low_bits(name: str, bits: int) -> Column:
    return sf.col(name).bitwiseAND(sf.lit((1 << bits) - 1))


def _rank() -> Column:
    return sf.shiftleft(_low_bits("trade_time_us", TIME_BITS), ID_BITS).bitwiseOR(
        _low_bits("trade_id", ID_BITS)
    )


def _rank_time(rank: str) -> Column:
    return sf.shiftleft(sf.col("time_hi"), TIME_BITS).bitwiseOR(
        sf.shiftright(sf.col(rank), ID_BITS)
    )


def _rank_id(rank: str) -> Column:
    return sf.shiftleft(sf.col("id_hi"), ID_BITS).bitwiseOR(_low_bits(rank, ID_BITS))


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
    # the clock of accepted rows, from a map literal (see _map_literal): null for the others
    now = sf.expr(f"try_element_at(map('{STATUS_ACCEPTED}', {int(now_us)}L), status)")
    age = now - sf.col("trade_time_us")
    res = (
        sf.when(age < 60_000_000, sf.lit(10_000))
        .when(age < 3_600_000_000, sf.lit(1_000_000))
        .otherwise(sf.lit(60_000_000))
        .cast("bigint")
    )
    bucket = sf.col("trade_time_us") - sf.pmod(sf.col("trade_time_us"), res) + sf.shiftright(res, 1)
    return sf.when(now.isNotNull(), bucket)


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
            _rank_id("first_rank").alias("first_trade_id"),
            _rank_id("last_rank").alias("last_trade_id"),
            _rank_time("first_rank").alias("open_trade_time_us"),
            _rank_time("last_rank").alias("close_trade_time_us"),
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
            _rank().alias("rank"),
        )
        return keyed.groupBy(*self._keys).agg(*self._aggs).select(*self._final)
