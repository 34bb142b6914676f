"""`cryptopipe bench producer`: our producer beside the clients a user would pick instead.

Every system gets the same generated trades (``cryptopipe.bench.dataset``, unpaced) and the
same client settings: acks=all, idempotence, lz4, and our producer's linger, batch size and
queue bounds, all read from one ``ProducerSettings`` (``cryptopipe.producer.kafka_sink``'s
``producer_config``), never re-typed here. Each round of each system writes into a fresh topic
of its own; a round is correct when the client reported no failure and the topic's watermarks
hold exactly the trades sent (every trade acknowledged once). Systems:

- ours: ``cryptopipe produce --source synthetic`` in-process (``cryptopipe.producer.app.run``,
  default settings, the tracing hook at its default sample ratio, metrics not served), after an
  unmeasured warm-up round;
- confluent-kafka producing the pre-encoded messages (the ceiling of a Python process);
- kcat, the C client, producing the same key/value lines from a file;
- kafka-python in the loop portfolio pipelines write (a standalone script in the peers' venv).

Timed: from creating the client to its flush returning with every message acknowledged (kcat:
the whole process); preparing the data (frames, encoded messages, files) is not timed, except
for ours, whose synthetic source generates the Binance frames inside the timed run.
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from cryptopipe.bench import dataset, peers_env
from cryptopipe.bench.context import BenchContext
from cryptopipe.bench.guard import guarded
from cryptopipe.bench.model import OURS, SystemResult
from cryptopipe.bench.producer_clients import (
    PeerError,
    PeerReport,
    kafka_python_args,
    kafka_python_differences,
    kcat_args,
    kcat_lines,
    librdkafka_properties,
    parse_peer_report,
    producer_settings,
)
from cryptopipe.bench.producer_rounds import (
    PEER_BUDGET_S,
    STAGE,
    Round,
    more_rounds,
    summarize,
    timed,
    warmup_trades,
)
from cryptopipe.producer.kafka_sink import producer_config
from cryptopipe.producer.settings import ProducerSettings
from cryptopipe.stack.kafka import admin_client
from cryptopipe.stack.settings import StackSettings

logger = logging.getLogger(__name__)

CONFLUENT = "confluent-kafka (pre-encoded)"
KCAT = "kcat"
KAFKA_PYTHON = "kafka-python (json loop)"
PEER_SCRIPT = "kafka_python_producer.py"
POLL_S = 0.05  # wait for room in librdkafka's queue when it is full


# settings ------------------------------------------------------------------------------


# measuring -----------------------------------------------------------------------------


def messages_on(stack: StackSettings, topic: str) -> int:
    """How many messages ``topic`` holds: end minus start offset, summed over partitions."""
    from confluent_kafka import TopicPartition  # noqa: PLC0415
    from confluent_kafka.admin import OffsetSpec  # type: ignore[attr-defined]  # noqa: PLC0415

    with admin_client(stack) as admin:
        partitions = admin.list_topics(topic, timeout=30).topics[topic].partitions
        total = 0
        ends = (OffsetSpec.latest(), 1), (OffsetSpec.earliest(), -1)  # type: ignore[no-untyped-call]
        for spec, sign in ends:
            asked = {TopicPartition(topic, p): spec for p in partitions}
            for future in admin.list_offsets(asked, request_timeout=30).values():
                total += sign * int(future.result().offset)
        return total


@dataclass
class _Run:
    """What the systems of one stage run share: the context, the data, the topics made."""

    ctx: BenchContext
    spec: dataset.DataSpec
    workdir: Path
    topics: list[str]

    def settings(self, topic: str | None = None, count: int | None = None) -> ProducerSettings:
        """Ours against the stack, into ``topic`` (default: the stack's trades topic)."""
        spec = self.spec if count is None else replace(self.spec, count=count)
        return producer_settings(self.ctx.settings, spec, topic or self.ctx.settings.topic_trades)

    def topic(self, system: str, round_no: int | str) -> str:
        name = self.ctx.topic(STAGE, f"{system}-{round_no}")
        self.topics.append(name)
        return self.ctx.create_topic(name)

    def rounds(
        self, system: str, one: Callable[[str], Round], budget_s: float | None = PEER_BUDGET_S
    ) -> list[Round]:
        """Up to ``ctx.sizing.producer_rounds`` timed rounds of one system, each on a fresh
        topic; a system whose rounds took more than ``budget_s`` in all stops early."""
        out: list[Round] = []
        total = self.ctx.sizing.producer_rounds
        while more_rounds(out, total, budget_s):
            r = one(self.topic(system, len(out) + 1))
            out.append(r)
            self.ctx.progress(
                f"{system}, round {len(out)}/{total}: {r.trades:,} trades in {r.seconds:.2f} s "
                f"= {r.trades_per_s:,.0f} trades/s"
                + ("" if r.correct else f" (WRONG: {r.on_topic:,} on the topic, {r.failed} failed)")
            )
        return out


# the systems ---------------------------------------------------------------------------
OURS_DESCRIPTION = (
    "cryptopipe produce --source synthetic, in-process: synthetic Binance frames -> normalize "
    "(validation, exact decimals, duplicate and gap tracking, 1% traced) -> confluent-kafka"
)


def run_ours(run: _Run) -> SystemResult:
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415

    from cryptopipe.producer.app import run as produce  # noqa: PLC0415
    from cryptopipe.producer.metrics import ProducerMetrics  # noqa: PLC0415
    from cryptopipe.producer.stopper import Stopper  # noqa: PLC0415
    from cryptopipe.producer.tracing_hook import TradeTracer  # noqa: PLC0415

    def one(topic: str, count: int | None = None) -> Round:
        settings = run.settings(topic, count)
        hook = TradeTracer.for_settings(TracerProvider(), settings)
        metrics = ProducerMetrics()
        with timed() as clock:
            result = produce(settings, Stopper(), metrics, serve_metrics=False, headers_hook=hook)
        sent = settings.count or 0
        failed = result.failed + result.unflushed + result.rejected + (sent - result.delivered)
        return clock.round(sent, failed, messages_on(run.ctx.settings, topic))

    warmup = warmup_trades(run.ctx.sizing)
    run.ctx.progress(f"{OURS}: warm-up round of {warmup:,} trades (not measured)")
    one(run.topic(OURS, "warmup"), warmup)
    rounds = run.rounds(OURS, one, budget_s=None)
    settings = run.settings()
    notes = [
        f"timed: cryptopipe.producer.app.run from start to its flush (every trade acknowledged), "
        f"including generating the synthetic Binance frames; median of {len(rounds)} rounds "
        f"after an unmeasured {warmup:,}-trade warm-up",
        f"client: acks=all, idempotence, {settings.kafka_compression}, linger "
        f"{settings.kafka_linger_ms} ms, batch {settings.kafka_batch_bytes:,} bytes",
        "cpu per trade: main thread = the Python thread; client threads = librdkafka's",
    ]
    return summarize(OURS, OURS_DESCRIPTION, rounds, notes, run.ctx.sizing.producer_rounds)


def run_confluent(run: _Run, pairs: list[tuple[bytes, bytes]]) -> SystemResult:
    from confluent_kafka import Producer  # noqa: PLC0415

    def one(topic: str) -> Round:
        settings = run.settings(topic)
        failures: list[str] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                failures.append(str(err))

        conf = producer_config(settings)
        conf["client.id"] = "bench-confluent-kafka"
        # only failed deliveries come back to Python: no per-trade callback on the happy path
        conf["delivery.report.only.error"] = True
        conf["on_delivery"] = on_delivery
        with timed() as clock:
            producer = Producer(conf)
            produce = producer.produce
            for key, value in pairs:
                try:
                    produce(topic, value, key)
                except BufferError:
                    _produce_when_room(producer, topic, value, key, settings.backpressure_timeout_s)
            unflushed = producer.flush(settings.flush_timeout_s)
        failed = len(failures) + unflushed
        return clock.round(len(pairs), failed, messages_on(run.ctx.settings, topic))

    rounds = run.rounds(CONFLUENT, one)
    notes = [
        "timed: from creating the Producer to flush() returning; the messages are encoded "
        "before the timer starts (dataset.encoded(): our schema-v1 bytes)",
        "same client properties as ours (producer_config), plus delivery.report.only.error so "
        "that no Python callback runs per acknowledged message",
        "cpu per trade: main thread = the Python produce() loop; client threads = librdkafka's",
    ]
    return summarize(
        CONFLUENT, CONFLUENT_DESCRIPTION, rounds, notes, run.ctx.sizing.producer_rounds
    )


def _produce_when_room(
    producer: Any, topic: str, value: bytes, key: bytes, timeout_s: float
) -> None:
    """librdkafka's queue is full: serve it until the message fits, at most ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        producer.poll(POLL_S)
        try:
            producer.produce(topic, value, key)
        except BufferError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"librdkafka's queue stayed full for {timeout_s:.0f} s"
                ) from None
        else:
            return


KCAT_DESCRIPTION = "kcat -P (the C client on librdkafka) producing key/value lines from a file"


def run_kcat(run: _Run, pairs: list[tuple[bytes, bytes]]) -> SystemResult:
    kcat = shutil.which("kcat")
    if kcat is None:
        return _failed(KCAT, KCAT_DESCRIPTION, "kcat is not on PATH: apt-get install kcat")
    data_file = run.workdir / "kcat-input.txt"
    with data_file.open("wb") as f:
        f.writelines(kcat_lines(pairs))
    config_file = run.workdir / "kcat.conf"
    config_file.touch(mode=0o600)
    props = librdkafka_properties(run.settings(), "bench-kcat")
    config_file.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    timeout_s = _subprocess_timeout(len(pairs))

    def one(topic: str) -> Round:
        args = kcat_args(kcat, config_file, topic, data_file)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = _run_process(args, timeout_s)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        failed = proc.stderr.count("Delivery failed")
        if proc.returncode != 0:
            logger.warning("kcat exited %d: %s", proc.returncode, proc.stderr.strip()[-500:])
            failed = max(failed, 1)
        return Round(len(pairs), seconds, cpu, None, failed, messages_on(run.ctx.settings, topic))

    try:
        version = subprocess.run(
            [kcat, "-V"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
        rounds = run.rounds(KCAT, one)
    except subprocess.TimeoutExpired:
        return _failed(KCAT, KCAT_DESCRIPTION, f"kcat took over {timeout_s:.0f} s")
    line = next((v for v in version.splitlines() if v.startswith("Version")), "")
    notes = [
        "timed: the kcat process from start to exit (it exits once every message is "
        "acknowledged); writing its input file is not timed",
        "same librdkafka properties as ours (producer_config, through -F); its librdkafka is "
        f"the OS package's, not confluent-kafka's: {line.strip() or 'version unknown'}",
        "cpu per trade: the whole kcat process (user + system)",
    ]
    return summarize(KCAT, KCAT_DESCRIPTION, rounds, notes, run.ctx.sizing.producer_rounds)


KAFKA_PYTHON_DESCRIPTION = (
    "kafka-python KafkaProducer in a per-frame json.loads / dict / json.dumps / send() loop, "
    "what portfolio pipelines write (peers/kafka_python_producer.py)"
)


def run_kafka_python(run: _Run, frames: list[bytes]) -> SystemResult:
    run.ctx.progress(f"{KAFKA_PYTHON}: the peers' virtualenv")
    try:
        python = peers_env.ensure()
        script = peers_env.script(PEER_SCRIPT)
    except peers_env.PeersEnvError as exc:
        return _failed(KAFKA_PYTHON, KAFKA_PYTHON_DESCRIPTION, str(exc))
    frames_file = run.workdir / "frames.txt"
    with frames_file.open("wb") as f:
        f.writelines(frame + b"\n" for frame in frames)
    timeout_s = _subprocess_timeout(len(frames))
    reports: list[PeerReport] = []

    def one(topic: str) -> Round:
        args = kafka_python_args(python, script, run.settings(topic), topic, frames_file)
        proc = _run_process(args, timeout_s)
        try:
            report = parse_peer_report(proc.stdout)
        except PeerError as exc:
            raise PeerError(
                f"the kafka-python peer exited {proc.returncode}: {exc}; its stderr ends: "
                f"{proc.stderr.strip()[-500:]}"
            ) from exc
        reports.append(report)
        failed = report.failed + max(0, len(frames) - report.sent)
        return Round(
            len(frames),
            report.seconds,
            report.cpu_s,
            report.main_cpu_s,
            failed,
            messages_on(run.ctx.settings, topic),
        )

    try:
        rounds = run.rounds(KAFKA_PYTHON, one)
    except PeerError as exc:
        return _failed(KAFKA_PYTHON, KAFKA_PYTHON_DESCRIPTION, str(exc))
    except subprocess.TimeoutExpired:
        return _failed(
            KAFKA_PYTHON, KAFKA_PYTHON_DESCRIPTION, f"the peer took over {timeout_s:.0f} s"
        )
    first = reports[0]
    notes = [
        "timed by the peer itself: from creating the KafkaProducer to flush() returning; the "
        "raw frames are read from a file into memory before the timer starts",
        f"{first.client}: acks={first.acks}, idempotence={first.idempotence}, compression "
        f"{first.compression}, linger {first.linger_ms} ms, batch {first.batch_size:,} bytes; "
        "partitioned by kafka-python's murmur2, not librdkafka's crc32",
        "prices and quantities are passed through verbatim: no validation, no decimal "
        "normalisation, no duplicate or gap tracking (less work per trade than ours)",
        "cpu per trade: main thread = the Python loop; client threads = kafka-python's "
        "sender thread (Python too, sharing the GIL)",
        *kafka_python_differences(first, run.settings()),
    ]
    return summarize(
        KAFKA_PYTHON, KAFKA_PYTHON_DESCRIPTION, rounds, notes, run.ctx.sizing.producer_rounds
    )


def _run_process(args: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    """A peer's process to its end (TimeoutExpired after ``timeout_s``), output captured."""
    return subprocess.run(
        args,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def _subprocess_timeout(trades: int) -> float:
    """Generous: a peer at 1,000 trades/s on a loaded machine still finishes."""
    return 120.0 + trades / 1_000


def _failed(system: str, description: str, error: str) -> SystemResult:
    logger.warning("bench producer: %s could not run: %s", system, error)
    return SystemResult.failed(STAGE, system, description, error)


CONFLUENT_DESCRIPTION = (
    "confluent-kafka Producer.produce() of pre-encoded key/value bytes: the ceiling of one "
    "Python process with our client settings"
)


def run_stage(ctx: BenchContext) -> list[SystemResult]:
    """Ours, then confluent-kafka (pre-encoded), kcat and kafka-python, on the same trades."""
    spec = dataset.DataSpec(count=ctx.sizing.producer_trades, seed=ctx.seed, rate=dataset.UNPACED)
    ctx.progress(f"producer: generating {spec.describe()}")
    frames = [payload for _, _, payload in dataset.frames(spec)]
    pairs = dataset.encoded(spec)
    systems: list[tuple[str, str, Callable[[_Run], SystemResult]]] = [
        (OURS, OURS_DESCRIPTION, run_ours),
        (CONFLUENT, CONFLUENT_DESCRIPTION, lambda run: run_confluent(run, pairs)),
        (KCAT, KCAT_DESCRIPTION, lambda run: run_kcat(run, pairs)),
        (KAFKA_PYTHON, KAFKA_PYTHON_DESCRIPTION, lambda run: run_kafka_python(run, frames)),
    ]
    results: list[SystemResult] = []
    with tempfile.TemporaryDirectory(prefix="cryptopipe-bench-producer-") as tmp:
        run = _Run(ctx, spec, Path(tmp), [])
        try:
            for system, description, fn in systems:
                load = os.getloadavg()[0]
                result = guarded(STAGE, system, description, partial(fn, run))
                result.notes.append(f"1-min load average when it started: {load:.1f}")
                results.append(result)
        finally:
            ctx.progress(f"producer: deleting {len(run.topics)} topics")
            ctx.delete_topics(run.topics)
    return results
