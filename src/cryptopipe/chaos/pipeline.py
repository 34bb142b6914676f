"""The pipeline the experiments break: started under a steady synthetic load, restartable.

The producer bootstraps through Toxiproxy (every broker behind its proxy) and the processor
reaches MariaDB through Toxiproxy, so the network faults of the experiments reach them; the
audit watches directly. With ``chaos_source = "exchange"`` the load comes from the served
exchange (`cryptopipe exchange serve`, started first) and the producer reads it with
``--source binance``, so the exchange's faults reach the real producer. Each service's command
and environment are recorded next to its pid file, so an experiment's repair
(``start_service``) starts it again exactly as it was, and the processor resumes from its
checkpoint.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from cryptopipe.chaos.settings import ChaosSettings
from cryptopipe.runner.cli import PIPELINE, service_commands, service_env
from cryptopipe.stack.manager import Stack
from cryptopipe.stack.process import ManagedProcess, wait_until

logger = logging.getLogger(__name__)

EXCHANGE = "exchange"  # the served exchange: the load of an exchange-source pipeline

PRODUCER_DELIVERY_TIMEOUT_MS = 15 * 60 * 1000


def _command_file(proc: ManagedProcess) -> Path:
    return proc.run_dir / f"{proc.name}.command.json"


def end_offsets(settings: ChaosSettings) -> dict[int, int]:
    """The trades topic's end offset per partition now."""
    from confluent_kafka import Consumer, TopicPartition  # noqa: PLC0415

    consumer = Consumer({**settings.kafka_client_config(), "group.id": "cryptopipe-chaos-ends"})
    try:
        topic = consumer.list_topics(settings.topic_trades, timeout=30).topics[
            settings.topic_trades
        ]
        return {
            p: _end_offset(consumer, TopicPartition(settings.topic_trades, p))
            for p in topic.partitions
        }
    finally:
        consumer.close()


def _end_offset(consumer: Any, partition: Any, timeout_s: float = 60.0) -> int:
    """The partition's end offset, retried while its leadership settles: right after a
    3-broker cluster starts (or a broker restarts), a broker may still answer "not leader"."""
    from confluent_kafka import KafkaError, KafkaException  # noqa: PLC0415

    settling = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE}
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return int(consumer.get_watermark_offsets(partition, timeout=30)[1])
        except KafkaException as exc:
            if exc.args[0].code() not in settling or time.monotonic() > deadline:
                raise
            logger.info("end offset of %s: %s; retrying", partition, exc.args[0].str())
            time.sleep(1.0)


def pipeline_env(settings: ChaosSettings) -> dict[str, dict[str, str]]:
    """Per service, the CRYPTOPIPE_* variables that differ from the plain `cryptopipe run`."""
    starts = {str(p): o for p, o in end_offsets(settings).items()}
    # through the proxy of every broker the stack runs (its recorded size, whatever the
    # settings say)
    proxied = Stack(settings).settings.proxied_bootstrap_servers()
    return {
        "producer": {
            "CRYPTOPIPE_KAFKA_BOOTSTRAP_SERVERS": proxied,
            # holds its trades back through a quorum loss long enough to page (kafka-quorum-loss)
            # instead of failing them after the default 2 minutes
            "CRYPTOPIPE_DELIVERY_TIMEOUT_MS": str(PRODUCER_DELIVERY_TIMEOUT_MS),
        },
        "processor": {
            "CRYPTOPIPE_MYSQL_PORT": str(settings.mysql_proxy_port()),
            # a new query starts at the topic's end: earlier data is not this run's business
            # (a restarted one resumes from its checkpoint, which Spark prefers)
            "CRYPTOPIPE_STARTING_OFFSETS": json.dumps({settings.topic_trades: starts}),
        },
        "audit": {},
    }


def _start_exchange(settings: ChaosSettings, env: dict[str, str]) -> bool:
    """Serve the exchange unless it runs; True if started. A new exchange is a new market:
    the producer's trade-id checkpoint of an earlier one is removed (its ids mean nothing
    here, and would read as a gap REST cannot fill)."""
    import httpx  # noqa: PLC0415

    from cryptopipe.producer.sources.binance.checkpoint import checkpoint_path  # noqa: PLC0415

    proc = Stack(settings).process(EXCHANGE)
    if proc.is_running():
        return False
    checkpoint_path(settings.state_dir, settings.topic_trades).unlink(missing_ok=True)
    argv = [sys.executable, "-m", "cryptopipe.cli", "exchange", "serve"]
    own = {
        "CRYPTOPIPE_EXCHANGE_PORT": str(settings.exchange_port),
        "CRYPTOPIPE_EXCHANGE_SYMBOLS": settings.chaos_symbols,
        "CRYPTOPIPE_EXCHANGE_RATE": str(settings.chaos_rate),
    }
    _command_file(proc).parent.mkdir(parents=True, exist_ok=True)
    _command_file(proc).write_text(json.dumps({"argv": argv, "env": own}))
    proc.start(argv, env={**env, **own})

    def serving() -> bool:
        try:
            return httpx.get(f"{settings.exchange_url()}/control/state", timeout=5).is_success
        except httpx.HTTPError:
            return False

    if not wait_until(serving, 90, interval_s=0.5):
        raise RuntimeError(f"the exchange does not serve; see {proc.log_file}")
    return True


def start(settings: ChaosSettings, extra_env: dict[str, str] | None = None) -> list[str]:
    """Start every pipeline service that is not running; returns the names started."""
    stack = Stack(settings)
    base = service_env(settings)
    started = []
    if settings.chaos_source == "exchange":
        if _start_exchange(settings, base):
            started.append(EXCHANGE)
        ws = settings.exchange_url().replace("http://", "ws://", 1)
        urls = {"--ws-url": ws, "--rest-url": settings.exchange_url()}
        commands = service_commands("binance", settings.chaos_symbols, None, urls)
    else:
        commands = service_commands("synthetic", settings.chaos_symbols, settings.chaos_rate, {})
    overrides = pipeline_env(settings)
    for name in PIPELINE:
        proc = stack.process(name)
        if proc.is_running():
            continue
        env = {**overrides[name], **(extra_env or {})}
        _command_file(proc).parent.mkdir(parents=True, exist_ok=True)
        _command_file(proc).write_text(json.dumps({"argv": commands[name], "env": env}))
        proc.start(commands[name], env={**base, **env})
        started.append(name)
    return started


def restart(settings: ChaosSettings, name: str) -> int:
    """Start ``name`` again with the command and environment it was first started with."""
    proc = Stack(settings).process(name)
    if proc.is_running():
        pid = proc.pid()
        assert pid is not None
        return pid
    try:
        recorded = json.loads(_command_file(proc).read_text())
    except OSError as exc:
        raise RuntimeError(
            f"{name} was not started by `cryptopipe chaos run` ({exc}); start the pipeline first"
        ) from exc
    return proc.start(recorded["argv"], env={**service_env(settings), **recorded["env"]})


def stop(settings: ChaosSettings, timeout_s: float = 60.0) -> None:
    """Stop the pipeline: producer first (it flushes), then the processor, then the audit,
    then the exchange if one serves the load."""
    stack = Stack(settings)
    for name in (*PIPELINE, EXCHANGE):
        stack.process(name).stop(timeout_s)


def wait_fresh(settings: ChaosSettings, timeout_s: float, fresh_s: float = 30.0) -> bool:
    """Wait until Prometheus shows every symbol of the load committed within ``fresh_s``."""
    import httpx  # noqa: PLC0415

    symbols = "|".join(settings.symbol_set())
    query = f'max(cryptopipe_processor_freshness_seconds{{symbol=~"{symbols}"}})'
    count = f'count(cryptopipe_processor_freshness_seconds{{symbol=~"{symbols}"}})'

    def fresh() -> bool:
        url = f"{settings.prometheus_url()}/api/v1/query"
        worst = httpx.get(url, params={"query": query}, timeout=10).json()["data"]["result"]
        n = httpx.get(url, params={"query": count}, timeout=10).json()["data"]["result"]
        return bool(
            worst
            and n
            and float(worst[0]["value"][1]) < fresh_s
            and int(float(n[0]["value"][1])) == len(settings.symbol_set())
        )

    def safe() -> bool:
        try:
            return fresh()
        except (httpx.HTTPError, OSError, ValueError, KeyError):
            return False

    return wait_until(safe, timeout_s, interval_s=2.0)
