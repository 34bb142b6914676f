-- cryptopipe schema v1: OHLCV candles, one row per (symbol, bar_interval, window_start).
-- Prices and volumes are exact DECIMALs; times are UTC. Open/close are the first/last trade
-- by (trade time, trade id), so the *_trade_time_us columns let partial candles merge
-- deterministically in any order.
CREATE TABLE IF NOT EXISTS candles (
    symbol               VARCHAR(20)     NOT NULL,
    bar_interval         VARCHAR(8)      NOT NULL,
    window_start         DATETIME(6)     NOT NULL,
    window_end           DATETIME(6)     NOT NULL,
    open                 DECIMAL(20, 8)  NOT NULL,
    high                 DECIMAL(20, 8)  NOT NULL,
    low                  DECIMAL(20, 8)  NOT NULL,
    close                DECIMAL(20, 8)  NOT NULL,
    volume               DECIMAL(38, 8)  NOT NULL,
    quote_volume         DECIMAL(38, 16) NOT NULL,
    vwap                 DECIMAL(38, 16) NOT NULL,
    trade_count          BIGINT UNSIGNED NOT NULL,
    taker_buy_volume     DECIMAL(38, 8)  NOT NULL,
    first_trade_id       BIGINT          NOT NULL,
    last_trade_id        BIGINT          NOT NULL,
    open_trade_time_us   BIGINT          NOT NULL,
    close_trade_time_us  BIGINT          NOT NULL,
    updated_at           DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                                         ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (symbol, bar_interval, window_start),
    KEY candles_updated_at (updated_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
