"""Every SQL statement the processor runs (MariaDB / MySQL 8 dialect).

The candle upsert implements :func:`cryptopipe.processor.candles.merge`. MySQL evaluates the
``ON DUPLICATE KEY UPDATE`` assignments left to right, and a later assignment sees the columns
already assigned; so ``open`` and ``first_trade_id`` are decided before ``open_trade_time_us``
moves (LEAST gives the right time whichever partial wins a tie on time), and likewise for close.
``vwap`` is a generated column (migration 0002): it is always quote_volume / volume.
"""

from __future__ import annotations

SELECT_BATCH_APPLIED = "SELECT 1 FROM processor_batches WHERE query_id = %s AND batch_id = %s"

INSERT_BATCH = """
INSERT INTO processor_batches
    (query_id, batch_id, input_rows, accepted_rows, duplicate_rows, late_rows, rejected_rows,
     candles_upserted, max_trade_time_us)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
"""

SELECT_WATERMARKS = "SELECT symbol, max_trade_time_us FROM processor_symbol_watermarks"

UPSERT_WATERMARKS = """
INSERT INTO processor_symbol_watermarks (symbol, max_trade_time_us)
VALUES (%s, %s)
ON DUPLICATE KEY UPDATE max_trade_time_us = GREATEST(max_trade_time_us, VALUES(max_trade_time_us))
"""

SELECT_RANGES = "SELECT symbol, lo, hi FROM processor_trade_id_ranges ORDER BY symbol, lo"

DELETE_RANGES_OF_SYMBOL = "DELETE FROM processor_trade_id_ranges WHERE symbol = %s"

INSERT_RANGES = "INSERT INTO processor_trade_id_ranges (symbol, lo, hi) VALUES (%s, %s, %s)"

INSERT_LATE = """
INSERT IGNORE INTO late_trades
    (symbol, trade_id, price, quantity, trade_time_us, is_buyer_maker, watermark_us,
     topic, kafka_partition, kafka_offset)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""

INSERT_REJECTED = """
INSERT IGNORE INTO rejected_trades
    (topic, kafka_partition, kafka_offset, reason, detail, raw_value)
VALUES (%s, %s, %s, %s, %s, %s)
"""

CANDLE_COLUMNS = (
    "symbol",
    "bar_interval",
    "window_start",
    "window_end",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "trade_count",
    "taker_buy_volume",
    "first_trade_id",
    "last_trade_id",
    "open_trade_time_us",
    "close_trade_time_us",
)

_EARLIER = (
    "(VALUES(open_trade_time_us), VALUES(first_trade_id)) < (open_trade_time_us, first_trade_id)"
)
_LATER = (
    "(VALUES(close_trade_time_us), VALUES(last_trade_id)) > (close_trade_time_us, last_trade_id)"
)

UPSERT_CANDLES = f"""
INSERT INTO candles ({", ".join(CANDLE_COLUMNS)})
VALUES ({", ".join(["%s"] * len(CANDLE_COLUMNS))})
ON DUPLICATE KEY UPDATE
    open = IF({_EARLIER}, VALUES(open), open),
    first_trade_id = IF({_EARLIER}, VALUES(first_trade_id), first_trade_id),
    open_trade_time_us = LEAST(open_trade_time_us, VALUES(open_trade_time_us)),
    close = IF({_LATER}, VALUES(close), close),
    last_trade_id = IF({_LATER}, VALUES(last_trade_id), last_trade_id),
    close_trade_time_us = GREATEST(close_trade_time_us, VALUES(close_trade_time_us)),
    high = GREATEST(high, VALUES(high)),
    low = LEAST(low, VALUES(low)),
    volume = volume + VALUES(volume),
    quote_volume = quote_volume + VALUES(quote_volume),
    trade_count = trade_count + VALUES(trade_count),
    taker_buy_volume = taker_buy_volume + VALUES(taker_buy_volume)
"""
