-- cryptopipe schema v2: what `cryptopipe process` needs to be exactly-once.
-- Everything below is written in the same transaction as the candles of a micro-batch.

-- vwap is derived from the exact sums, so it is computed by the database on every change:
-- the value cannot depend on which micro-batch created or last touched the row.
ALTER TABLE candles
    DROP COLUMN vwap,
    ADD COLUMN vwap DECIMAL(38, 16) AS (quote_volume / volume) PERSISTENT AFTER quote_volume;

-- Batch ledger: a (query, batch) that is here was fully applied; a replay of it changes nothing.
CREATE TABLE IF NOT EXISTS processor_batches (
    query_id         CHAR(36)        NOT NULL,
    batch_id         BIGINT          NOT NULL,
    input_rows       BIGINT UNSIGNED NOT NULL,
    accepted_rows    BIGINT UNSIGNED NOT NULL,
    duplicate_rows   BIGINT UNSIGNED NOT NULL,
    late_rows        BIGINT UNSIGNED NOT NULL,
    rejected_rows    BIGINT UNSIGNED NOT NULL,
    candles_upserted BIGINT UNSIGNED NOT NULL,
    max_trade_time_us BIGINT         NULL,
    committed_at     DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (query_id, batch_id),
    KEY processor_batches_committed_at (committed_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Event-time watermark state: the newest trade time seen per Kafka partition, in offset order.
-- A trade older than this minus the watermark delay is late (deterministic for any batch split).
CREATE TABLE IF NOT EXISTS processor_watermarks (
    topic             VARCHAR(249) NOT NULL,
    kafka_partition   INT          NOT NULL,
    max_trade_time_us BIGINT       NOT NULL,
    updated_at        DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                                   ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (topic, kafka_partition)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Trade ids already counted in candles, per symbol, as disjoint [lo, hi] ranges.
CREATE TABLE IF NOT EXISTS processor_trade_id_ranges (
    symbol VARCHAR(20) NOT NULL,
    lo     BIGINT      NOT NULL,
    hi     BIGINT      NOT NULL,
    PRIMARY KEY (symbol, lo)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Trades that came later than the watermark: not in any candle, but never lost without a trace.
CREATE TABLE IF NOT EXISTS late_trades (
    symbol          VARCHAR(20)    NOT NULL,
    trade_id        BIGINT         NOT NULL,
    price           DECIMAL(20, 8) NOT NULL,
    quantity        DECIMAL(20, 8) NOT NULL,
    trade_time_us   BIGINT         NOT NULL,
    is_buyer_maker  BOOLEAN        NOT NULL,
    watermark_us    BIGINT         NOT NULL,
    topic           VARCHAR(249)   NOT NULL,
    kafka_partition INT            NOT NULL,
    kafka_offset    BIGINT         NOT NULL,
    recorded_at     DATETIME(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (symbol, trade_id),
    KEY late_trades_recorded_at (recorded_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Input the processor could not accept (also published to the DLQ topic), one row per message.
CREATE TABLE IF NOT EXISTS rejected_trades (
    topic           VARCHAR(249)  NOT NULL,
    kafka_partition INT           NOT NULL,
    kafka_offset    BIGINT        NOT NULL,
    reason          VARCHAR(32)   NOT NULL,
    detail          VARCHAR(500)  NOT NULL,
    raw_value       MEDIUMBLOB    NULL,
    rejected_at     DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (topic, kafka_partition, kafka_offset),
    KEY rejected_trades_reason (reason)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
