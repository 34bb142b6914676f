"""cryptopipe: real-time crypto market-data pipeline, observability first."""

__version__ = "0.1.0"
