"""Parse and validate: Kafka rows -> typed v1 trades, each rule of trade_rules.RULES as Spark
SQL (no UDF; prices and quantities exact DECIMALs from their strings)."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as sf

from cryptopipe.processor.settings import DEFAULT_EXCERPT_BYTES
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

TRACEPARENT = "traceparent"


def trade_schema() -> str:
    """The JSON schema of a v1 trade (DDL), plus the corrupt-record column."""
    return ", ".join(
        [*(f"{name} {kind}" for name, kind in FIELD_TYPES), f"{CORRUPT_COLUMN} STRING"]
    )


def parse_columns(
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
