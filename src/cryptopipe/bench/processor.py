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
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from cryptopipe.bench import dataset, peers_env
from cryptopipe.bench.context import BenchContext
from cryptopipe.bench.model import OURS, Figure, Stage, SystemResult
from cryptopipe.bench.peers import candle_sink, naive_spark
from cryptopipe.bench.reference import (
    FIELDS,
    Candle,
    CandleKey,
    RefTrade,
    compare,
    reference_candles,
    stored_candle,
)
from cryptopipe.config import CommonSettings
from cryptopipe.db.migrate import apply_migrations
from cryptopipe.stack import mariadb
from cryptopipe.stack.jars import JarResolutionError, jar_files, resolve_maven
from cryptopipe.stack.kafka import admin_client
from cryptopipe.stack.settings import StackSettings

logger = logging.getLogger(__name__)

STAGE: Stage = "processor"
DATABASE = "cryptopipe_bench_processor"
KAFKA_PEER = "confluent-kafka + pymysql"
QUIX_PEER = "Quix Streams"
NAIVE_PEER = "naive Spark"
KAFKA_TABLE, QUIX_TABLE, NAIVE_TABLE = "peer_kafka_candles", "peer_quix_candles", "naive_candles"
OURS_QUERY = "bench-candles"
WARMUP_TRADES = 500_000  # the first batches of a new JVM run while the JIT compiles the stages
MIN_WARM_BATCHES = 2  # fewer after the warm-up: no sustained figure (a --quick backlog)
POLL_S = 0.2
PROGRESS_EVERY_S = 3.0
QUIET_PROGRESS_S = 15.0
MAX_ERROR_CHARS = 400
MIN_WAIT_S = 300.0  # a system gets this long plus one second per WAIT_RATE trades
WAIT_RATE = 2_000.0

DESCRIPTIONS = {
    OURS: "our Spark job (cryptopipe process): 1 s trigger, 1s+1m candles, exactly-once upserts",
    KAFKA_PEER: "plain consumer, Decimal 1 m candles in Python, batched pymysql upserts",
    QUIX_PEER: "Quix Streams 3.28 tumbling 1 m windows (RocksDB state, changelog), MySQL upserts",
    NAIVE_PEER: "portfolio Spark job: first()/last() unordered, double casts, JDBC append",
}


@dataclass(slots=True)
class Backlog:
    """What every system of the stage shares: the topic, the reference, the database."""

    ctx: BenchContext
    topic: str
    trades: int
    expected: dict[CandleKey, Candle]
    workdir: Path
    db: StackSettings  # the stack's settings pointed at the benchmark's database
    groups: list[str] = field(default_factory=list)  # the peers' consumer groups

    def wait_s(self) -> float:
        return MIN_WAIT_S + self.trades / WAIT_RATE


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


def _failed(system: str, error: str, notes: list[str] | None = None) -> SystemResult:
    return SystemResult(
        stage=STAGE,
        system=system,
        description=DESCRIPTIONS[system],
        trades=0,
        seconds=None,
        trades_per_s=None,
        error=error,
        notes=notes or [],
    )


def short_error(exc: BaseException) -> str:
    """An exception in a line a results table can hold: a JVM error's root cause (its last
    ``Caused by:`` line), else the first line, at most MAX_ERROR_CHARS."""
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    causes = [line.removeprefix("Caused by: ") for line in lines if line.startswith("Caused by:")]
    first = causes[-1] if causes else (lines[0] if lines else "")
    out = f"{type(exc).__name__}: {first}"
    return out if len(out) <= MAX_ERROR_CHARS else out[: MAX_ERROR_CHARS - 3] + "..."


def _guarded(system: str, fn: Callable[[], SystemResult]) -> SystemResult:
    try:
        return fn()
    except Exception as exc:
        logger.exception("bench processor: %s failed", system)
        return _failed(system, short_error(exc))


def _judged(
    b: Backlog, system: str, seconds: float, rows: list[tuple[CandleKey, Candle]], **kw: Any
) -> SystemResult:
    """A system's result with its candles compared with the reference."""
    verdict = compare(b.expected, rows)
    notes = [f"candles vs the exact reference: {verdict.describe()}", *kw.pop("notes", [])]
    return SystemResult(
        stage=STAGE,
        system=system,
        description=DESCRIPTIONS[system],
        trades=b.trades,
        seconds=seconds,
        trades_per_s=b.trades / seconds if seconds > 0 else None,
        correct=verdict.ok,
        notes=notes,
        **kw,
    )


# --- the backlog and the database -----------------------------------------------------------


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


def _query(db: StackSettings, sql: str) -> list[tuple[Any, ...]]:
    conn = mariadb.app_connection(db)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def stored_rows(db: StackSettings, table: str, where: str = "") -> list[tuple[CandleKey, Candle]]:
    """A table's candles (columns ``symbol, window_start`` and FIELDS) as (key, candle)."""
    from cryptopipe.processor.candles import datetime_to_us  # noqa: PLC0415

    rows = _query(db, f"SELECT symbol, window_start, {', '.join(FIELDS)} FROM `{table}` {where}")
    return [
        ((str(r[0]), datetime_to_us(r[1])), stored_candle(dict(zip(FIELDS, r[2:], strict=True))))
        for r in rows
    ]


class _Progress:
    """``ctx.progress`` while a system runs: every few seconds when its count moved, and
    at least every QUIET_PROGRESS_S (a JVM start-up shows as a count that does not move)."""

    def __init__(self, ctx: BenchContext, system: str, total: int) -> None:
        self._ctx, self._system, self._total = ctx, system, total
        self._started = self._last = time.monotonic()
        self._shown = 0

    def __call__(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        quiet = now - self._last
        if (
            force
            or (done != self._shown and quiet >= PROGRESS_EVERY_S)
            or quiet >= QUIET_PROGRESS_S
        ):
            self._last, self._shown = now, done
            self._ctx.progress(
                f"{self._system}: {done:,} of {self._total:,} trades committed "
                f"({now - self._started:.0f}s)"
            )


# --- ours and the naive Spark job, in one SparkSession --------------------------------------


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

    progress = _Progress(b.ctx, OURS, b.trades)
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
        return _failed(OURS, f"{done:,} of {b.trades:,} trades committed in {b.wait_s():.0f}s")
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
    return _judged(b, OURS, seconds, rows, figures=figures, notes=notes)


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
    progress = _Progress(b.ctx, NAIVE_PEER, b.trades)
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
        return _failed(NAIVE_PEER, f"{done:,} of {b.trades:,} trades read in {b.wait_s():.0f}s")
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
    return _judged(b, NAIVE_PEER, seconds, rows, figures=figures, notes=notes)


def _stop_when_idle(query: Any, wait_s: float = 10.0) -> None:
    """Stop a streaming query between micro-batches (a stop in the middle of one, e.g. the
    no-data batch that moves the watermark, logs scary interrupted-task errors)."""
    deadline = time.monotonic() + wait_s
    while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < deadline:
        time.sleep(0.05)
    query.stop()


def _spark_systems(b: Backlog) -> tuple[SystemResult, SystemResult]:
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
        return _failed(OURS, error), _failed(NAIVE_PEER, error)
    try:
        ours = _guarded(OURS, lambda: _run_ours(b, spark, settings, spark_start_s))
        if jdbc_error is not None:
            naive = _failed(NAIVE_PEER, f"{jdbc_error}; run `cryptopipe stack fetch`")
        else:
            naive = _guarded(NAIVE_PEER, lambda: _run_naive(b, spark))
    finally:
        spark.stop()
    return ours, naive


# --- the Python peers, as subprocesses ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerRun:
    """What a peer script printed: its JSON result line, and its last stderr lines."""

    result: dict[str, Any] | None
    returncode: int
    stderr_tail: str


def parse_peer_output(stdout: str) -> dict[str, Any] | None:
    """The peer's result: the last line of stdout that is a JSON object with ``seconds``."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("seconds"), int | float):
            return value
    return None


def progress_count(line: str) -> int | None:
    """``progress <n>`` from a peer's stderr line, else None."""
    if not line.startswith(candle_sink.PROGRESS_PREFIX):
        return None
    text = line[len(candle_sink.PROGRESS_PREFIX) :].strip()
    return int(text) if text.isdigit() else None


def _run_peer(
    argv: list[str], env: dict[str, str], timeout_s: float, progress: _Progress
) -> PeerRun:
    """Run a peer script; relay its progress; kill it (by its pid) past ``timeout_s``."""
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    tail: list[str] = []

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            count = progress_count(line)
            if count is not None:
                progress(count)
            else:
                tail.append(line.rstrip())
                del tail[:-20]

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        stdout, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=30)
        reader.join(5)
        raise RuntimeError(f"did not finish in {timeout_s:.0f}s: {' | '.join(tail[-3:])}") from None
    reader.join(5)
    return PeerRun(parse_peer_output(stdout), proc.returncode, "\n".join(tail[-5:]))


def _peer_args(b: Backlog, table: str, group: str) -> candle_sink.PeerArgs:
    return candle_sink.PeerArgs(
        bootstrap=b.ctx.settings.bootstrap_servers(),
        topic=b.topic,
        group=group,
        table=table,
        mysql_host=b.db.mysql_host,
        mysql_port=b.db.mysql_port,
        mysql_database=DATABASE,
        mysql_user=b.db.mysql_user,
    )


def _run_script_peer(
    b: Backlog, system: str, python: Path, script: Path, table: str, group: str
) -> SystemResult:
    env = {**os.environ, candle_sink.PASSWORD_ENV: b.db.mysql_app_password()}
    env.pop("PYTHONPATH", None)  # the peers' virtualenv keeps to its own packages
    argv = [str(python), str(script), *_peer_args(b, table, group).argv()]
    b.ctx.progress(f"{system}: consuming {b.trades:,} trades ...")
    run = _run_peer(argv, env, b.wait_s(), _Progress(b.ctx, system, b.trades))
    if run.returncode != 0 or run.result is None:
        why = run.stderr_tail or "no output"
        return _failed(system, f"exited {run.returncode}: {why}")
    r = run.result
    if int(r.get("trades", 0)) != b.trades:
        return _failed(system, f"consumed {r.get('trades')} of {b.trades:,} trades")
    figures = []
    if r.get("first_commit_s") is not None:
        figures.append(Figure("time to first commit (client start)", r["first_commit_s"], "s"))
    notes = ["timed inside the script: from building its Kafka client to its last commit"]
    seconds = float(r["seconds"])
    return _judged(b, system, seconds, stored_rows(b.db, table), figures=figures, notes=notes)


def _run_kafka_peer(b: Backlog) -> SystemResult:
    script = peers_env.script("kafka_candles.py")
    group = f"bench-kafka-{b.ctx.run_id}"
    b.groups.append(group)
    return _run_script_peer(b, KAFKA_PEER, Path(sys.executable), script, KAFKA_TABLE, group)


def _run_quix_peer(b: Backlog) -> SystemResult:
    try:
        python = peers_env.ensure(b.ctx.settings.cache_dir)
    except peers_env.PeersEnvError as exc:
        return _failed(QUIX_PEER, str(exc))
    group = f"bench-quix-{b.ctx.run_id}"
    b.groups.append(group)
    script = peers_env.script("quix_candles.py")
    return _run_script_peer(b, QUIX_PEER, python, script, QUIX_TABLE, group)


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
        results[OURS], results[NAIVE_PEER] = _spark_systems(b)
        results[KAFKA_PEER] = _guarded(KAFKA_PEER, lambda: _run_kafka_peer(b))
        results[QUIX_PEER] = _guarded(QUIX_PEER, lambda: _run_quix_peer(b))
    finally:
        _clean_up(ctx, created, b, workdir)
    order = (OURS, KAFKA_PEER, QUIX_PEER, NAIVE_PEER)
    missing = "not run: an earlier step of the stage failed (see the log)"
    return [results.get(name) or _failed(name, missing) for name in order]


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
