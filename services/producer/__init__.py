"""The producer (`cryptopipe produce`): trades from Binance, a recording or a synthetic market,
normalized to schema v1 (docs/trade-schema-v1.md) and produced to Kafka.

Pure core: ``trade`` (the schema), ``normalize`` (raw payload -> trade or DLQ rejection),
``sequence`` (dedup and gap detection), ``synthetic`` (seeded market).
Adapters: ``kafka_sink``, ``sources/`` (``synthetic``, ``replay`` and the ``binance`` package:
WebSocket streams, REST, backfill, rate limits, checkpoint), wired by ``app.run`` and the click
command in ``cli``; ``errors`` holds what a source raises for the command.
"""
