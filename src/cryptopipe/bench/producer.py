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

import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from cryptopipe.bench import dataset, peers_env
from cryptopipe.bench.context import BenchContext, Sizing
from cryptopipe.bench.model import OURS, Figure, Stage, SystemResult
from cryptopipe.bench.peers import kafka_python_producer as peer  # its report's format
from cryptopipe.config import CommonSettings
from cryptopipe.producer.kafka_sink import producer_config
from cryptopipe.producer.settings import ProducerSettings
from cryptopipe.stack.kafka import admin_client
from cryptopipe.stack.settings import StackSettings

logger = logging.getLogger(__name__)

STAGE: Stage = "producer"
CONFLUENT = "confluent-kafka (pre-encoded)"
KCAT = "kcat"
KAFKA_PYTHON = "kafka-python (json loop)"
PEER_SCRIPT = "kafka_python_producer.py"
KCAT_KEY_DELIMITER = b"\t"  # between key and value in kcat's input lines (-K)
MAX_WARMUP_TRADES = 100_000  # the broker's JIT warms up on these; not measured
# a peer's timed rounds stop once they took this long in all (ours always runs every round)
PEER_BUDGET_S = 120.0
POLL_S = 0.05  # wait for room in librdkafka's queue when it is full
# client settings that are Python objects, not librdkafka properties kcat could take
PYTHON_ONLY_KEYS = ("logger", "error_cb", "on_delivery", "stats_cb")

CPU_MAIN = "cpu per trade, main thread"
CPU_CLIENT = "cpu per trade, client threads"
CPU_PROCESS = "cpu per trade, process"
US_PER_TRADE = "us/trade"


class PeerError(RuntimeError):
    """A peer could not run or its output is unusable; the message says what to do."""


# settings ------------------------------------------------------------------------------
def producer_settings(stack: StackSettings, spec: dataset.DataSpec, topic: str) -> ProducerSettings:
    """``cryptopipe produce --source synthetic`` against the stack, making ``spec``'s trades
    (symbols, seed, start time, first ids, count; unpaced) into ``topic``; everything else is
    the product's default."""
    common = {name: getattr(stack, name) for name in CommonSettings.model_fields}
    common.update(kafka_bootstrap_servers=stack.bootstrap_servers(), topic_trades=topic)
    config = spec.config()
    return ProducerSettings(
        **common,
        source="synthetic",
        symbols=",".join(config.symbols),
        rate=config.rate,
        seed=config.seed,
        count=spec.count,
        synthetic_start_time_us=config.start_time_us,
        synthetic_first_trade_id=config.first_trade_id,
    )


def librdkafka_properties(settings: ProducerSettings, client_id: str) -> dict[str, str]:
    """Our producer's client properties as librdkafka strings (for kcat's config file)."""
    conf = producer_config(settings)
    conf["client.id"] = client_id
    out: dict[str, str] = {}
    for key, value in conf.items():
        if key in PYTHON_ONLY_KEYS:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def kcat_args(kcat: str, config_file: Path, topic: str, data_file: Path) -> list[str]:
    """kcat producing ``data_file``'s lines (key, tab, value) with the properties of
    ``config_file`` (a file, not -X: a SASL password stays out of the process list)."""
    delimiter = KCAT_KEY_DELIMITER.decode().encode("unicode_escape").decode()
    config = ["-F", str(config_file)]
    return [kcat, "-P", "-q", *config, "-t", topic, "-K", delimiter, "-l", str(data_file)]


def kcat_lines(pairs: list[tuple[bytes, bytes]]) -> Iterator[bytes]:
    for key, value in pairs:
        yield key + KCAT_KEY_DELIMITER + value + b"\n"


def kafka_python_args(
    python: Path, script: Path, settings: ProducerSettings, topic: str, frames_file: Path
) -> list[str]:
    """The kafka-python peer with our client settings, where kafka-python has them."""
    conf = producer_config(settings)
    compression = str(conf["compression.type"])
    return [
        str(python),
        "-W",
        "ignore::DeprecationWarning",
        str(script),
        "--bootstrap",
        str(conf["bootstrap.servers"]),
        "--topic",
        topic,
        "--frames",
        str(frames_file),
        "--acks",
        str(conf["acks"]),
        "--idempotence" if conf["enable.idempotence"] else "--no-idempotence",
        "--compression",
        compression,
        "--linger-ms",
        str(conf["linger.ms"]),
        "--batch-size",
        str(conf["batch.size"]),
        "--delivery-timeout-ms",
        str(conf["message.timeout.ms"]),
    ]


@dataclass(frozen=True, slots=True)
class PeerReport:
    """What the kafka-python peer printed about its run (one JSON line on stdout)."""

    client: str
    sent: int
    failed: int
    seconds: float
    cpu_s: float
    main_cpu_s: float
    acks: str
    idempotence: bool
    compression: str
    linger_ms: int
    batch_size: int


def parse_peer_report(stdout: str) -> PeerReport:
    """The last JSON object line of the peer's stdout; PeerError if there is none or a field
    is missing or of the wrong type."""
    for raw in reversed(stdout.strip().splitlines()):
        line = raw.strip()
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        if data.get("report") != peer.REPORT_VERSION:
            wanted = peer.REPORT_VERSION
            raise PeerError(f"peer report version {data.get('report')!r}, not {wanted}: {line}")
        try:
            return PeerReport(
                client=str(data["client"]),
                sent=_int(data["sent"]),
                failed=_int(data["failed"]),
                seconds=_positive(data["seconds"]),
                cpu_s=float(data["cpu_s"]),
                main_cpu_s=float(data["main_cpu_s"]),
                acks=str(data["acks"]),
                idempotence=bool(data["idempotence"]),
                compression=str(data["compression"]),
                linger_ms=_int(data["linger_ms"]),
                batch_size=_int(data["batch_size"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PeerError(f"unusable peer report ({exc!r}): {line}") from exc
    raise PeerError(f"the peer printed no JSON report (stdout: {stdout[-300:]!r})")


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not an integer: {value!r}")
    return value


def _positive(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"not a positive number: {value!r}")
    return float(value)


def kafka_python_differences(report: PeerReport, settings: ProducerSettings) -> list[str]:
    """Where the peer's effective client settings differ from ours (notes of the result)."""
    conf = producer_config(settings)
    out: list[str] = []
    if report.compression != conf["compression.type"]:
        out.append(
            f"kafka-python sent with compression {report.compression}, not "
            f"{conf['compression.type']} (kafka-python needs the lz4 package for lz4; the peers' "
            "venv does not have it)"
        )
    if report.acks not in ("all", "-1"):
        out.append(f"kafka-python ran with acks={report.acks}, not all")
    if not report.idempotence:
        out.append("kafka-python ran without idempotence")
    return out


def warmup_trades(sizing: Sizing) -> int:
    """Ours' unmeasured warm-up round: a fifth of a round, at most 100,000 trades."""
    return max(1, min(MAX_WARMUP_TRADES, sizing.producer_trades // 5))


# measuring -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Round:
    """One timed run of one system into a fresh topic."""

    trades: int
    seconds: float
    cpu_s: float | None  # the whole client process
    main_cpu_s: float | None  # its main (Python) thread; None for kcat
    failed: int  # failures the client reported
    on_topic: int  # messages on the round's topic afterwards (watermarks)

    @property
    def trades_per_s(self) -> float:
        return self.trades / self.seconds

    @property
    def correct(self) -> bool:
        return acknowledged_once(self.trades, self.on_topic, self.failed)


@dataclass
class _Clock:
    """Wall time, process CPU and this thread's CPU of a timed block."""

    seconds: float = 0.0
    cpu_s: float = 0.0
    main_cpu_s: float = 0.0

    def round(self, trades: int, failed: int, on_topic: int) -> Round:
        return Round(trades, self.seconds, self.cpu_s, self.main_cpu_s, failed, on_topic)


@contextmanager
def _timed() -> Iterator[_Clock]:
    clock = _Clock()
    started, cpu_started, main_started = (
        time.perf_counter(),
        time.process_time(),
        time.thread_time(),
    )
    yield clock
    clock.seconds = time.perf_counter() - started
    clock.cpu_s = time.process_time() - cpu_started
    clock.main_cpu_s = time.thread_time() - main_started


def more_rounds(done: list[Round], total: int, budget_s: float | None) -> bool:
    """Whether to time another round: fewer than ``total`` so far and, with a budget, their
    seconds still within it (a slow peer gets one round, not an hour)."""
    if not done:
        return True
    if len(done) >= total:
        return False
    return budget_s is None or sum(r.seconds for r in done) < budget_s


def acknowledged_once(sent: int, on_topic: int, failed: int) -> bool:
    """Every trade acknowledged exactly once: no client failure, and the topic holds as many
    messages as were sent (none lost, none duplicated)."""
    return failed == 0 and on_topic == sent


def summarize(
    system: str, description: str, rounds: list[Round], notes: list[str], wanted: int = 1
) -> SystemResult:
    """The median round's throughput, the range, and CPU per trade, as a SystemResult
    (``wanted``: the rounds asked for; a note says when fewer ran)."""
    rates = [r.trades_per_s for r in rounds]
    median = statistics.median(rates)
    trades = rounds[0].trades
    figures = [
        Figure("median", median, "trades/s"),
        Figure("min", min(rates), "trades/s"),
        Figure("max", max(rates), "trades/s"),
        Figure("rounds", len(rounds), "rounds"),
    ]
    cpu = [r.cpu_s for r in rounds if r.cpu_s is not None]
    main = [r.main_cpu_s for r in rounds if r.main_cpu_s is not None]
    if cpu:
        figures.append(Figure(CPU_PROCESS, 1e6 * statistics.median(cpu) / trades, US_PER_TRADE))
    if cpu and len(main) == len(cpu):
        main_us = 1e6 * statistics.median(main) / trades
        client_us = 1e6 * statistics.median(c - m for c, m in zip(cpu, main, strict=True)) / trades
        figures += [
            Figure(CPU_MAIN, main_us, US_PER_TRADE),
            Figure(CPU_CLIENT, client_us, US_PER_TRADE),
        ]
    if len(rounds) < wanted:
        notes = [
            *notes,
            f"{len(rounds)} of {wanted} rounds: its rounds took "
            f"{sum(r.seconds for r in rounds):.0f} s, over a peer's {PEER_BUDGET_S:.0f} s budget",
        ]
    wrong = [i + 1 for i, r in enumerate(rounds) if not r.correct]
    if wrong:
        notes = [
            *notes,
            *(
                f"round {i}: {rounds[i - 1].trades:,} sent, {rounds[i - 1].on_topic:,} on the "
                f"topic, {rounds[i - 1].failed:,} failures reported"
                for i in wrong
            ),
        ]
    return SystemResult(
        stage=STAGE,
        system=system,
        description=description,
        trades=trades,
        seconds=trades / median,
        trades_per_s=median,
        correct=not wrong,
        figures=figures,
        notes=notes,
    )


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
        with _timed() as clock:
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
        with _timed() as clock:
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
    return SystemResult(
        stage=STAGE,
        system=system,
        description=description,
        trades=0,
        seconds=None,
        trades_per_s=None,
        error=error,
    )


def _guarded(system: str, description: str, fn: Callable[[], SystemResult]) -> SystemResult:
    """One system's result; an unexpected failure is that system's error, the run goes on."""
    try:
        return fn()
    except Exception as exc:
        logger.exception("bench producer: %s failed", system)
        return _failed(system, description, f"{type(exc).__name__}: {exc}")


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
                result = _guarded(system, description, partial(fn, run))
                result.notes.append(f"1-min load average when it started: {load:.1f}")
                results.append(result)
        finally:
            ctx.progress(f"producer: deleting {len(run.topics)} topics")
            ctx.delete_topics(run.topics)
    return results
