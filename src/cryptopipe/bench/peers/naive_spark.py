"""Peer "naive Spark": the candle job the portfolio pipelines ship, as they write it.

Kafka -> ``from_json`` -> prices and quantities cast to double -> ``groupBy(window(1 min),
symbol)`` with ``first``/``last`` for open/close (no ordering: whatever row Spark meets first
or last) and ``sum`` of doubles for the volume -> ``outputMode("update")`` -> ``foreachBatch``
appending the batch's windows over JDBC (MariaDB's driver) into a table of DOUBLE columns
without a key. No ledger, no upsert: a window updated in two batches is two rows, a replayed
batch appends again. Nothing of our processor is imported: this is the alternative.

Runs in a SparkSession the caller built (``cryptopipe bench`` shares ours: one JVM start) whose
driver classpath holds the MariaDB JDBC driver (``cryptopipe.stack.jars``, pom
``mariadb-jdbc``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

JDBC_DRIVER = "org.mariadb.jdbc.Driver"
QUERY_NAME = "bench-naive-candles"

# What Spark's JDBC writer would create for the DataFrame (the app user has no DDL, so the
# benchmark creates it up front with the admin account): DOUBLE prices, no primary key.
TABLE_DDL = """
CREATE TABLE `{table}` (
    symbol       VARCHAR(20),
    window_start DATETIME(6),
    open         DOUBLE,
    high         DOUBLE,
    low          DOUBLE,
    close        DOUBLE,
    volume       DOUBLE,
    trade_count  BIGINT
) ENGINE = InnoDB
"""


def jdbc_url(host: str, port: int, database: str) -> str:
    """The projects' ``jdbc:mysql:`` URL: Spark picks its MySQL dialect (backquoted names) by
    that scheme; MariaDB's driver takes it with ``permitMysqlScheme``."""
    return f"jdbc:mysql://{host}:{port}/{database}?permitMysqlScheme"


@dataclass(frozen=True, slots=True)
class NaiveJob:
    bootstrap: str
    topic: str
    jdbc_url: str  # see jdbc_url()
    table: str
    user: str
    password: str
    checkpoint: str
    trigger_s: float = 1.0

    def start(self, spark: Any, on_commit: Callable[[int], None]) -> Any:
        """Start the streaming query (returned); ``on_commit(batch_id)`` runs after each
        batch's JDBC append returned."""
        from pyspark.sql import functions as sf  # noqa: PLC0415 (pyspark loads only when run)
        from pyspark.sql.types import LongType, StringType, StructField, StructType  # noqa: PLC0415

        schema = StructType(
            [
                StructField("symbol", StringType()),
                StructField("trade_id", LongType()),
                StructField("price", StringType()),
                StructField("quantity", StringType()),
                StructField("trade_time_us", LongType()),
            ]
        )
        trades = (
            spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", self.bootstrap)
            .option("subscribe", self.topic)
            .option("startingOffsets", "earliest")
            .load()
            .select(sf.from_json(sf.col("value").cast("string"), schema).alias("t"))
            .select("t.*")
            .withColumn("price", sf.col("price").cast("double"))
            .withColumn("quantity", sf.col("quantity").cast("double"))
            .withColumn("ts", sf.timestamp_seconds(sf.col("trade_time_us") / 1_000_000))
        )
        candles = (
            trades.withWatermark("ts", "10 seconds")
            .groupBy(sf.window("ts", "1 minute"), "symbol")
            .agg(
                sf.first("price").alias("open"),
                sf.max("price").alias("high"),
                sf.min("price").alias("low"),
                sf.last("price").alias("close"),
                sf.sum("quantity").alias("volume"),
                sf.count("*").alias("trade_count"),
            )
        )
        props = {"user": self.user, "password": self.password, "driver": JDBC_DRIVER}

        def write(batch: Any, batch_id: int) -> None:
            batch.select(
                "symbol",
                sf.col("window.start").alias("window_start"),
                "open",
                "high",
                "low",
                "close",
                "volume",
                "trade_count",
            ).write.jdbc(self.jdbc_url, self.table, mode="append", properties=props)
            on_commit(batch_id)

        return (
            candles.writeStream.queryName(QUERY_NAME)
            .outputMode("update")
            .option("checkpointLocation", self.checkpoint)
            .trigger(processingTime=f"{self.trigger_s} seconds")
            .foreachBatch(write)
            .start()
        )
