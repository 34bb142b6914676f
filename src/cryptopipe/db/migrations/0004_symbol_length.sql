-- cryptopipe schema v4: a symbol is up to 32 characters in every table, as the producer, the
-- processor's and the audit's acceptance rules and docs/trade-schema-v1.md say
-- (cryptopipe.trade_rules.SYMBOL_MAX_LEN; Binance symbols reach 20 and more characters, and
-- VARCHAR(20) would have rejected a trade every checker accepted).
ALTER TABLE candles MODIFY symbol VARCHAR(32) NOT NULL;
ALTER TABLE processor_trade_id_ranges MODIFY symbol VARCHAR(32) NOT NULL;
ALTER TABLE late_trades MODIFY symbol VARCHAR(32) NOT NULL;
ALTER TABLE processor_symbol_watermarks MODIFY symbol VARCHAR(32) NOT NULL;
