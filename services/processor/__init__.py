"""The processor (`cryptopipe process`): Spark Structured Streaming from crypto.trades to the
``candles`` table in MySQL, exactly once (docs/processor.md).

Pure core: ``intervals`` (candle windows), ``candles`` (partial candles and their merge),
``summary`` (a batch's aggregation groups -> what it decided), ``batch`` (that decision as
data), ``sql`` (every statement). Spark: ``transform/`` (parse, validate, classify, aggregate:
one job per batch), ``spark_session``, ``listener``. Adapters: ``sink`` (MySQL state and the
one transaction per batch), ``dlq_publisher``, ``end_offsets``, ``freshness``, ``metrics``,
``trade_spans`` (tracing), wired by ``job.run`` and the click command in ``cli``.
"""
