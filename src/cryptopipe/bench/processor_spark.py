"""Ours and the naive Spark job of `cryptopipe bench processor`, in one SparkSession (one JVM
start): ours is run first (a cold JVM, as `cryptopipe process` starts), then the naive job."""

from __future__ import annotations

import json
import logging
import os
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from cryptopipe.bench.guard import short_error
from cryptopipe.bench.model import OURS, Figure, SystemResult
from cryptopipe.bench.peers import naive_spark
from cryptopipe.bench.processor_common import (
    DATABASE,
    NAIVE_PEER,
    NAIVE_TABLE,
    POLL_S,
    Backlog,
    Progress,
    failed,
    guarded,
    judged,
    stored_rows,
)
from cryptopipe.config import CommonSettings
from cryptopipe.stack import mariadb
from cryptopipe.stack.jars import JarResolutionError, jar_files, resolve_maven

logger = logging.getLogger(__name__)

OURS_QUERY = "bench-candles"
WARMUP_TRADES = 500_000  # the first batches of a new JVM run while the JIT compiles the stages
MIN_WARM_BATCHES = 2  # fewer after the warm-up: no sustained figure (a --quick backlog)


def sustained(
    batches: list[tuple[int, float]], warmup_trades: int = WARMUP_TRADES
) -> tuple[float, int] | None:
    """Trades/s after the warm-up from (input rows, commit time) per batch, and how many
    batches the warm-up took: the batches after the first ``warmup_trades`` over the wall time
    from the warm-up's last commit to the last commit (the engine's work between batches
    counts). None when fewer than MIN_WARM_BATCHES batches are left after the warm-up."""
    done, warmup = 0, 0
    while warmup < len(batches) and done < warmup_trades:
        done += batches[warmup][0]
        warmup += 1
    warm = batches[warmup:]
    if warmup == 0 or len(warm) < MIN_WARM_BATCHES:
        return None
    wall = warm[-1][1] - batches[warmup - 1][1]
    return (sum(n for n, _ in warm) / wall, warmup) if wall > 0 else None


def _processor_settings(b: Backlog, jdbc_jars: list[Path]) -> Any:
    from cryptopipe.processor.settings import DEFAULT_INTERVALS, ProcessorSettings  # noqa: PLC0415

    s = b.ctx.settings
    defaults = ProcessorSettings.model_fields
    fields: dict[str, Any] = {name: getattr(s, name) for name in CommonSettings.model_fields}
    fields.update(
        state_dir=b.workdir / "spark-state",
        kafka_bootstrap_servers=s.bootstrap_servers(),
        mysql_database=DATABASE,
        mysql_password=SecretStr(s.mysql_app_password()),
        topic_trades=b.topic,
        topic_dlq=f"{b.topic}.dlq",
        # the defaults a user gets, whatever CRYPTOPIPE_* says
        intervals=DEFAULT_INTERVALS,
        symbols="",
        available_now=False,
        starting_offsets="earliest",
        trigger_interval_s=defaults["trigger_interval_s"].default,
        max_offsets_per_trigger=defaults["max_offsets_per_trigger"].default,
        query_name=OURS_QUERY,
        checkpoint_dir=str(b.workdir / "checkpoint-ours"),
        metrics_enabled=False,
        spark_jars=str(resolve_maven("spark-kafka", s.cache_dir)),
    )
    settings = ProcessorSettings(**fields)
    if jdbc_jars:  # on the driver's classpath (local mode: the executors' too) for the peer
        conf = {**settings.spark_conf_dict()}
        extra = [conf.get("spark.driver.extraClassPath", ""), *map(str, jdbc_jars)]
        conf["spark.driver.extraClassPath"] = os.pathsep.join(p for p in extra if p)
        settings = settings.model_copy(update={"spark_conf": json.dumps(conf)})
    return settings


def _committed_rows(conn: Any) -> int:
    """Input rows of the batches our processor committed (its batch ledger)."""
    with conn.cursor() as cur:
        cur.execute("SELECT COALESCE(SUM(input_rows), 0) FROM processor_batches")
        return int(cur.fetchone()[0])


def _run_ours(b: Backlog, spark: Any, settings: Any, spark_start_s: float) -> SystemResult:
    from cryptopipe.processor.job import run  # noqa: PLC0415

    stop = threading.Event()
    holder: dict[str, Any] = {}

    def worker() -> None:
        try:
            holder["processor"] = run(settings, stop=stop, spark=spark)
        except Exception as exc:
            holder["error"] = exc

    progress = Progress(b.ctx, OURS, b.trades)
    b.ctx.progress(f"{OURS}: streaming query over {b.trades:,} trades ...")
    t0 = time.time()
    thread = threading.Thread(target=worker, name="bench-ours", daemon=True)
    thread.start()
    deadline = time.monotonic() + b.wait_s()
    done = 0
    conn = mariadb.app_connection(b.db, autocommit=True)  # each poll sees the newest commit
    try:
        while thread.is_alive() and time.monotonic() < deadline:
            done = _committed_rows(conn)
            progress(done)
            if done >= b.trades:
                break
            time.sleep(POLL_S)
    finally:
        conn.close()
        stop.set()
        thread.join(120)
    if "error" in holder:
        raise RuntimeError(f"our streaming query failed: {holder['error']}")
    if thread.is_alive():
        raise RuntimeError("our streaming query did not stop within 120 s of being asked to")
    if done < b.trades:
        return failed(OURS, f"{done:,} of {b.trades:,} trades committed in {b.wait_s():.0f}s")
    progress(done, force=True)
    history = list(holder["processor"].history)
    seconds = history[-1].commit_s - t0
    first_s = history[0].commit_s - t0
    durations = [h.duration_s for h in history]
    figures = [
        Figure("overall (query start to last commit)", b.trades / seconds, "trades/s"),
        Figure("time to first commit (query start)", first_s, "s"),
        Figure("Spark session start (JVM, jars)", spark_start_s, "s"),
        Figure("process start to first commit", spark_start_s + first_s, "s"),
        Figure("batch duration p50", statistics.median(durations), "s"),
        Figure("batches", len(history), "batches"),
    ]
    notes = [
        f"{len(history)} batches of at most {settings.max_offsets_per_trigger:,} trades "
        f"(maxOffsetsPerTrigger), 1s and 1m candles, into the benchmark's own database",
    ]
    warm = sustained([(h.input_rows, h.commit_s) for h in history])
    if warm is None:
        notes.append(
            f"no sustained figure: fewer than {MIN_WARM_BATCHES} batches after the first "
            f"{WARMUP_TRADES:,} trades (the JIT warm-up); a full run has them"
        )
    else:
        rate, warmup = warm
        figures.insert(1, Figure("sustained after warm-up", rate, "trades/s"))
        notes.append(
            f"sustained: the batches after the first {warmup} (>= {WARMUP_TRADES:,} trades, "
            "the JVM's warm-up), wall time between their commits"
        )
    rows = stored_rows(b.db, "candles", "WHERE bar_interval = '1m'")
    return judged(b, OURS, seconds, rows, figures=figures, notes=notes)


def _run_naive(b: Backlog, spark: Any) -> SystemResult:
    secret = mariadb.app_secret(b.db)
    job = naive_spark.NaiveJob(
        bootstrap=b.ctx.settings.bootstrap_servers(),
        topic=b.topic,
        jdbc_url=naive_spark.jdbc_url(b.db.mysql_host, b.db.mysql_port, DATABASE),
        table=NAIVE_TABLE,
        user=secret["user"],
        password=secret["password"],
        checkpoint=str(b.workdir / "checkpoint-naive"),
    )
    commits: dict[int, float] = {}
    progress = Progress(b.ctx, NAIVE_PEER, b.trades)
    b.ctx.progress(f"{NAIVE_PEER}: streaming query over {b.trades:,} trades ...")
    t0 = time.time()
    query = job.start(spark, lambda batch_id: commits.__setitem__(batch_id, time.time()))
    deadline = time.monotonic() + b.wait_s()
    rows_by_batch: dict[int, int] = {}
    try:
        while time.monotonic() < deadline:
            if not query.isActive:
                raise RuntimeError(f"the naive query stopped:\n{query.exception()}")
            for p in query.recentProgress:
                rows_by_batch[int(p.batchId)] = int(p.numInputRows)
            done = sum(rows_by_batch.values())
            progress(done)
            if done >= b.trades:
                break
            time.sleep(POLL_S)
    finally:
        _stop_when_idle(query)
    done = sum(rows_by_batch.values())
    if done < b.trades:
        return failed(NAIVE_PEER, f"{done:,} of {b.trades:,} trades read in {b.wait_s():.0f}s")
    progress(done, force=True)
    last = max(i for i, n in rows_by_batch.items() if n)
    seconds = commits[last] - t0
    data_batches = sorted(i for i, n in rows_by_batch.items() if n)
    figures = [
        Figure("time to first commit (query start)", commits[data_batches[0]] - t0, "s"),
        Figure("batches", len(data_batches), "batches"),
    ]
    notes = [
        "same SparkSession as ours, started after it (a warm JVM) with our session's SQL "
        "settings (2 shuffle partitions); no maxOffsetsPerTrigger, as the projects ship it",
    ]
    rows = stored_rows(b.db, NAIVE_TABLE)
    return judged(b, NAIVE_PEER, seconds, rows, figures=figures, notes=notes)


def _stop_when_idle(query: Any, wait_s: float = 10.0) -> None:
    """Stop a streaming query between micro-batches (a stop in the middle of one, e.g. the
    no-data batch that moves the watermark, logs scary interrupted-task errors)."""
    deadline = time.monotonic() + wait_s
    while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < deadline:
        time.sleep(0.05)
    query.stop()


def spark_systems(b: Backlog) -> tuple[SystemResult, SystemResult]:
    try:
        jdbc_jars = jar_files(resolve_maven("mariadb-jdbc", b.ctx.settings.cache_dir))
        jdbc_error = None
    except JarResolutionError as exc:
        jdbc_jars, jdbc_error = [], f"no MariaDB JDBC driver for Spark: {exc}"
    try:
        from cryptopipe.processor.spark_session import build_spark  # noqa: PLC0415

        settings = _processor_settings(b, jdbc_jars)
        b.ctx.progress("starting Spark (one session for ours and the naive job) ...")
        t0 = time.monotonic()
        spark = build_spark(settings)
        spark_start_s = time.monotonic() - t0
    except Exception as exc:
        logger.exception("bench processor: Spark did not start")
        error = f"Spark did not start: {short_error(exc)}"
        return failed(OURS, error), failed(NAIVE_PEER, error)
    try:
        ours = guarded(OURS, lambda: _run_ours(b, spark, settings, spark_start_s))
        if jdbc_error is not None:
            naive = failed(NAIVE_PEER, f"{jdbc_error}; run `cryptopipe stack fetch`")
        else:
            naive = guarded(NAIVE_PEER, lambda: _run_naive(b, spark))
    finally:
        spark.stop()
    return ours, naive
