"""Settings of `cryptopipe process` (env prefix CRYPTOPIPE_, see cryptopipe.config)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field, field_validator

from cryptopipe.config import CommonSettings
from cryptopipe.processor.intervals import Interval, parse_intervals
from cryptopipe.trade_rules import DEFAULT_MAX_MESSAGE_BYTES

DEFAULT_INTERVALS = "1s,1m"
# librdkafka's default message.max.bytes, which the DLQ producer keeps: a rejected value kept
# whole (at most max_message_bytes) plus its dlq.* headers must fit in one DLQ record
DLQ_MESSAGE_MAX_BYTES = 1_000_000
DLQ_HEADROOM_BYTES = 16 * 1024
MAX_MESSAGE_BYTES_LIMIT = DLQ_MESSAGE_MAX_BYTES - DLQ_HEADROOM_BYTES
DEFAULT_EXCERPT_BYTES = 4096


class CandleScope(CommonSettings):
    """Which symbols and candle intervals: shared by the processor and the audit, so one
    CRYPTOPIPE_SYMBOLS / CRYPTOPIPE_INTERVALS configures both alike."""

    intervals: str = Field(DEFAULT_INTERVALS, description="Candle intervals, e.g. 1s,1m,5m,1h.")
    symbols: str = Field(
        "", description="Comma-separated symbols; empty means every well-formed symbol."
    )

    @field_validator("intervals")
    @classmethod
    def _check_intervals(cls, value: str) -> str:
        parse_intervals(value)
        return value

    def interval_list(self) -> list[Interval]:
        return parse_intervals(self.intervals)

    def symbol_list(self) -> list[str]:
        return [s.strip().upper() for s in self.symbols.split(",") if s.strip()]


class ProcessorSettings(CandleScope):
    """Everything `cryptopipe process` needs; built once in the command and passed down."""

    spark_master: str = Field(
        "local[2]", description="Spark master URL (local[N], spark://, k8s://)."
    )
    spark_conf: str = Field(
        "", description='Extra Spark conf as a JSON object, e.g. {"spark.executor.memory": "2g"}.'
    )
    spark_shuffle_partitions: int = Field(2, gt=0, description="spark.sql.shuffle.partitions.")
    spark_jars: str = Field(
        "",
        description="Jars of Spark's Kafka source (spark-sql-kafka-0-10 and what it needs beside "
        "pyspark's): comma-separated files or directories (every *.jar in them). `cryptopipe "
        "process` resolves them into the cache dir when this and spark_jars_packages are empty.",
    )
    spark_jars_packages: str = Field(
        "",
        description="Or Maven coordinates Spark resolves itself (spark.jars.packages), e.g. "
        "org.apache.spark:spark-sql-kafka-0-10_2.13:4.0.1 on a cluster.",
    )
    query_name: str = Field("candles", description="Streaming query name; names its checkpoint.")
    checkpoint_dir: str | None = Field(
        None,
        description="Any Hadoop path (file, hdfs://, s3a://). "
        "Default: <state_dir>/spark/checkpoints/<query_name>.",
    )
    trigger_interval_s: float = Field(1.0, gt=0, description="Micro-batch trigger interval.")
    available_now: bool = Field(
        False, description="Process what is in the topic now, then exit (batch-style catch-up)."
    )
    starting_offsets: str = Field(
        "earliest", description="Kafka startingOffsets for a new checkpoint: earliest|latest|JSON."
    )
    max_offsets_per_trigger: int | None = Field(
        200_000, gt=0, description="Cap on Kafka records per micro-batch (None = no cap)."
    )
    fail_on_data_loss: bool = Field(True, description="Kafka failOnDataLoss.")
    spark_kafka_options: str = Field(
        "", description='Extra Spark Kafka source options as JSON, e.g. {"kafka.client.rack": "a"}.'
    )
    watermark_delay_s: float = Field(
        10.0, ge=0, description="Trades older than max seen trade time minus this are late."
    )
    max_message_bytes: int = Field(
        DEFAULT_MAX_MESSAGE_BYTES,
        gt=0,
        le=MAX_MESSAGE_BYTES_LIMIT,
        description="Larger values are rejected as oversized (kept as a bounded excerpt).",
    )
    oversized_excerpt_bytes: int = Field(
        DEFAULT_EXCERPT_BYTES,
        ge=0,
        le=MAX_MESSAGE_BYTES_LIMIT,
        description="An oversized value keeps only its first N bytes in rejected_trades and the "
        "DLQ (dlq.excerpt header); the original stays on the input topic at dlq.origin.",
    )
    dlq_enabled: bool = Field(True, description="Also publish rejected input to topic_dlq.")
    dlq_delivery_timeout_s: float = Field(
        10.0, gt=0, description="One DLQ delivery attempt waits this long (message.timeout.ms)."
    )
    dlq_retry_max_s: float = Field(
        30.0,
        ge=0,
        description="Retry failed DLQ deliveries (with backoff) this long per batch, then give "
        "up on them (counted, logged; rejected_trades still has every row).",
    )
    mysql_connect_timeout_s: float = Field(10.0, gt=0)
    mysql_read_timeout_s: float = Field(
        30.0,
        gt=0,
        description="A MySQL reply not received within this is a stall: the connection is "
        "dropped and the operation retried (the batch ledger decides an unknown COMMIT).",
    )
    mysql_write_timeout_s: float = Field(
        30.0, gt=0, description="Sending a statement to MySQL longer than this is a stall."
    )
    mysql_retry_max_s: float = Field(
        120.0, gt=0, description="Give up a batch's MySQL write after retrying this long."
    )
    query_restart_max_s: float = Field(
        30.0,
        gt=0,
        description="A query failed by Kafka (brokers or a leader gone longer than the client's "
        "timeout) restarts from its checkpoint after 1 s, doubling up to this.",
    )
    metrics_enabled: bool = Field(True, description="Serve /metrics on processor_metrics_port.")

    @field_validator("spark_conf", "spark_kafka_options")
    @classmethod
    def _check_json_object(cls, value: str) -> str:
        if value.strip():
            parsed = json.loads(value)
            if not isinstance(parsed, dict):
                raise ValueError("must be a JSON object")
        return value

    def spark_jar_files(self) -> list[str]:
        """``spark_jars`` with each directory expanded to its *.jar files (sorted)."""
        out: list[str] = []
        for entry in (e.strip() for e in self.spark_jars.split(",")):
            if not entry:
                continue
            path = Path(entry).expanduser()
            out += [str(p) for p in sorted(path.glob("*.jar"))] if path.is_dir() else [str(path)]
        return out

    def spark_conf_dict(self) -> dict[str, str]:
        return _json_object(self.spark_conf)

    def spark_kafka_options_dict(self) -> dict[str, str]:
        return _json_object(self.spark_kafka_options)

    def resolved_checkpoint_dir(self) -> str:
        if self.checkpoint_dir:
            return self.checkpoint_dir
        return str(self.state_dir / "spark" / "checkpoints" / self.query_name)

    @property
    def watermark_delay_us(self) -> int:
        return round(self.watermark_delay_s * 1_000_000)


def _json_object(text: str) -> dict[str, str]:
    if not text.strip():
        return {}
    parsed: dict[str, object] = json.loads(text)
    return {str(k): str(v) for k, v in parsed.items()}
