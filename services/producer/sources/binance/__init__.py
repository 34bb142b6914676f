"""``--source binance``: everything only the live exchange needs.

``source`` (the WebSocket streams, reconnects, rotation; ``run_binance`` is the entry point),
``rest`` (the REST client: exchangeInfo, historical trades, the request-weight budget),
``backfill`` (closing trade-id gaps from REST), ``ratelimit`` (weight budget, sliding window,
backoff), ``checkpoint`` (the per-symbol last trade id kept across restarts). The pipeline
(normalize, dedup, Kafka) is reached only through what ``run_binance`` is given.
"""
