"""The audit's integration tests reuse the processor's fixtures (SparkSession, topics, MySQL)."""

from tests.integration.processor.conftest import spark

__all__ = ["spark"]
