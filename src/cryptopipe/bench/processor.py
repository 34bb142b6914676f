"""`cryptopipe bench processor`: 1 m candles of one backlog by our Spark job and its peers.

Every system reads the same topic from the start: the normalized trades of
:mod:`cryptopipe.bench.dataset`, produced once. Each is timed from its start (ours: the
streaming query's start in an already running SparkSession; a peer script: building its Kafka
client) to its last candle committed to MySQL, and its 1 m candles are compared row by row with
the exact reference (:mod:`cryptopipe.bench.reference`).

- ours: :func:`cryptopipe.processor.job.run` as `cryptopipe process` runs it (1 s trigger, both
  intervals, default maxOffsetsPerTrigger), into our own tables of a database of the benchmark's
  own (``cryptopipe_bench_processor``, migrated, dropped at the end): a user's candles are never
  touched;
- confluent-kafka + pymysql, Quix Streams: scripts in cryptopipe/bench/peers/ run as
  subprocesses (Quix in the peers' virtualenv), each into its own table;
- naive Spark: the portfolio projects' job, in the same SparkSession as ours (one JVM start).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptopipe.bench import dataset
from cryptopipe.bench.context import BenchContext
from cryptopipe.bench.model import OURS, SystemResult
from cryptopipe.bench.peers import candle_sink, naive_spark
from cryptopipe.bench.processor_common import (
    DATABASE,
    KAFKA_PEER,
    KAFKA_TABLE,
    NAIVE_PEER,
    NAIVE_TABLE,
    QUIX_PEER,
    QUIX_TABLE,
    STAGE,
    Backlog,
    failed,
    guarded,
)
from cryptopipe.bench.processor_peers import run_kafka_peer, run_quix_peer
from cryptopipe.bench.processor_spark import spark_systems
from cryptopipe.bench.reference import RefTrade, reference_candles
from cryptopipe.db.migrate import apply_migrations
from cryptopipe.stack import mariadb
from cryptopipe.stack.kafka import admin_client
from cryptopipe.stack.settings import StackSettings

logger = logging.getLogger(__name__)


def _produce(ctx: BenchContext, topic: str, messages: list[tuple[bytes, bytes]]) -> float:
    """Every message onto ``topic`` (acks=all, idempotent), in order; returns the seconds."""
    from confluent_kafka import Producer  # noqa: PLC0415

    errors: list[Any] = []

    def report(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(err)

    conf = {
        **ctx.settings.kafka_client_config(),
        "bootstrap.servers": ctx.settings.bootstrap_servers(),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "compression.type": "lz4",
    }
    producer = Producer(conf)
    t0 = time.monotonic()
    for key, value in messages:
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    left = producer.flush(120)
    if left or errors:
        raise RuntimeError(f"producing the backlog: {left} undelivered, errors {errors[:3]}")
    return time.monotonic() - t0


def _bench_database(settings: StackSettings) -> StackSettings:
    """A fresh benchmark database with our migrations applied (a leftover of an interrupted
    run is dropped first); the returned settings point at it."""
    with contextlib.suppress(RuntimeError):  # RuntimeError: nothing left over to drop
        mariadb.drop_scratch_database(settings, DATABASE)
    mariadb.create_scratch_database(settings, DATABASE)
    db = settings.model_copy(update={"mysql_database": DATABASE})
    conn = mariadb.admin_connection(db)
    try:
        apply_migrations(conn)
        with conn.cursor() as cur:
            for table in (KAFKA_TABLE, QUIX_TABLE):
                cur.execute(candle_sink.TABLE_DDL.format(table=table))
            cur.execute(naive_spark.TABLE_DDL.format(table=NAIVE_TABLE))
        conn.commit()
    finally:
        conn.close()
    return db


def _forget_groups(settings: StackSettings, groups: list[str]) -> list[str]:
    """Delete the peers' consumer groups and return the topics they made themselves (Quix
    names its state's changelog topics ``changelog__<group>--...``)."""
    if not groups:
        return []
    prefixes = tuple(f"{kind}__{g}--" for g in groups for kind in ("changelog", "repartition"))
    with admin_client(settings) as admin:
        for group, future in admin.delete_consumer_groups(groups, request_timeout=30).items():
            try:
                future.result(60)
            except Exception as exc:
                logger.warning("could not delete consumer group %s: %s", group, exc)
        return [n for n in admin.list_topics(timeout=30).topics if n.startswith(prefixes)]


def run_stage(ctx: BenchContext) -> list[SystemResult]:
    spec = dataset.DataSpec(count=ctx.sizing.processor_trades, seed=ctx.seed)
    ctx.progress(f"processor: {spec.describe()}, 1 m candles by each system")
    messages = dataset.encoded(spec)
    expected = reference_candles(RefTrade.from_value(value) for _, value in messages)
    topic = ctx.topic(STAGE, "backlog")
    workdir = Path(tempfile.mkdtemp(prefix="cryptopipe-bench-processor-"))
    results: dict[str, SystemResult] = {}
    created: list[str] = []
    b: Backlog | None = None
    try:
        for name in (topic, f"{topic}.dlq"):  # ours publishes rejected input to <topic>.dlq
            created.append(ctx.create_topic(name))
        produce_s = _produce(ctx, topic, messages)
        ctx.progress(f"backlog of {len(messages):,} trades on {topic} in {produce_s:.1f}s")
        del messages
        b = Backlog(ctx, topic, spec.count, expected, workdir, _bench_database(ctx.settings))
        results[OURS], results[NAIVE_PEER] = spark_systems(b)
        results[KAFKA_PEER] = guarded(KAFKA_PEER, lambda: run_kafka_peer(b))
        results[QUIX_PEER] = guarded(QUIX_PEER, lambda: run_quix_peer(b))
    finally:
        _clean_up(ctx, created, b, workdir)
    order = (OURS, KAFKA_PEER, QUIX_PEER, NAIVE_PEER)
    missing = "not run: an earlier step of the stage failed (see the log)"
    return [results.get(name) or failed(name, missing) for name in order]


def _clean_up(ctx: BenchContext, topics: list[str], b: Backlog | None, workdir: Path) -> None:
    try:
        ctx.delete_topics(topics + _forget_groups(ctx.settings, b.groups if b else []))
    except Exception:
        logger.exception("bench processor: could not delete its topics %s", topics)
    try:
        mariadb.drop_scratch_database(ctx.settings, DATABASE)
    except RuntimeError:
        logger.exception("bench processor: could not drop database %s", DATABASE)
    shutil.rmtree(workdir, ignore_errors=True)
