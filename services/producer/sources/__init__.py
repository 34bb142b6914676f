"""Trade sources: each feeds raw Binance payloads into the shared :class:`Pipeline`."""
