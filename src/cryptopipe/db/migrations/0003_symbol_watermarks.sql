-- cryptopipe schema v3: the processor's event-time watermark is kept per symbol (the Kafka key),
-- not per partition: a symbol's messages are in one partition's offset order, so "newest trade
-- time of this symbol so far" is the same at every message however the stream is batched, and
-- the processor's Spark plan needs a single shuffle (by symbol).
CREATE TABLE IF NOT EXISTS processor_symbol_watermarks (
    symbol            VARCHAR(20)  NOT NULL PRIMARY KEY,
    max_trade_time_us BIGINT       NOT NULL,
    updated_at        DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                                   ON UPDATE CURRENT_TIMESTAMP(6)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

DROP TABLE IF EXISTS processor_watermarks;
