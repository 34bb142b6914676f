"""The acceptance rules of a normalized trade: ONE definition for every checker.

The processor applies them in Spark (:mod:`cryptopipe.processor.transform`), the audit in pure
Python (:mod:`cryptopipe.audit.validate`); both import everything here, and a differential test
on the real Spark session (tests/integration/audit/test_rules_agree_with_spark.py) shows they
give the same reason for every message of a corpus of good and bad input.

A message is rejected by the first rule of :data:`RULES` that fires, with that rule's reason.
"""

from __future__ import annotations

from enum import StrEnum

from cryptopipe.dlq import DlqReason

SCHEMA_VERSION = 1
EXCHANGE = "binance"

# The JSON fields Spark reads (from_json with this schema, PERMISSIVE), in schema order, with
# their Spark SQL types. Any other key of the message is ignored.
FIELD_TYPES: tuple[tuple[str, str], ...] = (
    ("v", "INT"),
    ("exchange", "STRING"),
    ("symbol", "STRING"),
    ("trade_id", "BIGINT"),
    ("price", "STRING"),
    ("quantity", "STRING"),
    ("trade_time_us", "BIGINT"),
    ("event_time_us", "BIGINT"),
    ("ingest_time_us", "BIGINT"),
    ("is_buyer_maker", "BOOLEAN"),
)
REQUIRED_FIELDS: tuple[str, ...] = tuple(name for name, _ in FIELD_TYPES)
# PERMISSIVE mode's column for a record Spark could not convert (a key of this name in the
# message is ignored, like any other unknown key)
CORRUPT_COLUMN = "_corrupt"

PRICE_TYPE = "DECIMAL(20,8)"
PRICE_INT_DIGITS, PRICE_SCALE = 12, 8
# The bodies of the patterns a whole string must match. Each engine anchors them its own way
# (:func:`spark_pattern`; Python uses re.fullmatch): Java's ``$`` also matches before a final
# line terminator, so "BTCUSDT\n" would pass an ``^...$`` pattern.
# Up to 12 integer and 8 fractional digits (DECIMAL(20,8)); more trailing zeros are harmless.
DECIMAL_FRACTION = r"(?:\.[0-9]{0,8}0*)?"
DECIMAL_BODY = r"-?[0-9]{1,12}" + DECIMAL_FRACTION
# a symbol: 2 to SYMBOL_MAX_LEN upper-case letters and digits (Binance's reach 20 and more);
# every table's symbol column is VARCHAR(SYMBOL_MAX_LEN) (a test reads the live schema)
SYMBOL_MIN_LEN, SYMBOL_MAX_LEN = 2, 32
SYMBOL_BODY = rf"[A-Z0-9]{{{SYMBOL_MIN_LEN},{SYMBOL_MAX_LEN}}}"

# trade times must be plausible epoch µs: 2001-09-09 .. 2100-01-01 (fixed, so replays agree)
MIN_TIME_US = 1_000_000_000_000_000
MAX_TIME_US = 4_102_444_800_000_000
# Largest price x quantity of one trade (in quote units). Far above any real trade (Binance's
# biggest fills are ~1e8 USDT), and it keeps every sum exact: DECIMAL(38,16) holds 1e22, so a
# candle would need 10 million such trades to overflow. Without it one absurd message (both
# near 1e12) would overflow the batch's sum and fail every replay of it: a poison pill.
MAX_NOTIONAL = 10**15
# price < NOTIONAL_PRICE_BOUND and quantity < NOTIONAL_QTY_BOUND can never exceed MAX_NOTIONAL:
# the exact product is only needed above them
NOTIONAL_PRICE_BOUND = 10**7
NOTIONAL_QTY_BOUND = 10**8

# Larger Kafka values are rejected as oversized (the processor's max_message_bytes default)
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024

SPARK_INT_MIN, SPARK_INT_MAX = -(2**31), 2**31 - 1
SPARK_BIGINT_MIN, SPARK_BIGINT_MAX = -(2**63), 2**63 - 1


def spark_pattern(body: str) -> str:
    """A Java regex (Spark ``rlike``) matching the whole string, and nothing after it."""
    return rf"^(?:{body})\z"


class Rule(StrEnum):
    """The checks of a message, named; :data:`RULES` gives their order and reasons."""

    EMPTY = "empty"  # no value (a Kafka tombstone)
    SIZE = "size"  # value larger than max_message_bytes
    JSON = "json"  # not a JSON object, or nothing of the schema in it
    TYPES = "types"  # a field of the wrong type (Spark's corrupt record)
    REQUIRED = "required"  # a required field absent or null
    VERSION = "version"  # v != SCHEMA_VERSION
    EXCHANGE = "exchange"  # exchange != EXCHANGE
    SYMBOL = "symbol"  # symbol not SYMBOL_BODY (or not among the configured symbols)
    DECIMAL = "decimal"  # price or quantity not a DECIMAL(20,8) as written
    POSITIVE = "positive"  # price or quantity <= 0
    NOTIONAL = "notional"  # price x quantity > MAX_NOTIONAL
    TRADE_ID = "trade_id"  # trade_id < 0
    TIME = "time"  # trade_time_us outside [MIN_TIME_US, MAX_TIME_US]


# The order in which the rules are tried, and the DLQ reason of each.
RULES: tuple[tuple[Rule, DlqReason], ...] = (
    (Rule.EMPTY, DlqReason.NOT_JSON),
    (Rule.SIZE, DlqReason.OVERSIZED),
    (Rule.JSON, DlqReason.NOT_JSON),
    (Rule.TYPES, DlqReason.WRONG_TYPE),
    (Rule.REQUIRED, DlqReason.MISSING_FIELD),
    (Rule.VERSION, DlqReason.SCHEMA_VERSION),
    (Rule.EXCHANGE, DlqReason.UNSUPPORTED_EVENT),
    (Rule.SYMBOL, DlqReason.UNKNOWN_SYMBOL),
    (Rule.DECIMAL, DlqReason.BAD_DECIMAL),
    (Rule.POSITIVE, DlqReason.NON_POSITIVE),
    (Rule.NOTIONAL, DlqReason.OUT_OF_RANGE),
    (Rule.TRADE_ID, DlqReason.NON_POSITIVE),
    (Rule.TIME, DlqReason.BAD_TIME),
)
REASON_OF: dict[Rule, DlqReason] = dict(RULES)
