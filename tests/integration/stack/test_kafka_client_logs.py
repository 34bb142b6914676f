"""Kafka clients pointed at a dead broker, run as real processes: every librdkafka error comes
out once, as one of our JSON log records, and nothing raw (``%3|...|FAIL|...``) reaches stderr."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

from tests.conftest import port_base
from tests.integration.stack.helpers import RAW_LIBRDKAFKA


def dead_port() -> int:
    """A port of this test session's range that nothing listens on."""
    port = port_base() + 99
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} must be free"
    return port


def run_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOPIPE_")}
    env.update(
        {
            "CRYPTOPIPE_STATE_DIR": str(tmp_path / "state"),
            "CRYPTOPIPE_LOG_FORMAT": "json",
            "CRYPTOPIPE_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{dead_port()}",
            **extra,
        }
    )
    return env


def split_stderr(stderr: str) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """(raw librdkafka lines, JSON records, other lines such as the CLI's own summary)."""
    raw, records, other = [], [], []
    for line in stderr.splitlines():
        if RAW_LIBRDKAFKA.match(line):
            raw.append(line)
        elif line.startswith("{"):
            records.append(json.loads(line))
        elif line.strip():
            other.append(line)
    return raw, records, other


def assert_logged_once(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The connection failures, each said by librdkafka's line and by nothing else."""
    failures = [r for r in records if "Connection refused" in r["message"]]
    assert failures, "the dead broker's connection failures are logged"
    assert {r["logger"] for r in failures} == {"librdkafka"}, "one path: no error_cb echo"
    assert all(r["level"] == "error" and r["kafka_facility"] == "FAIL" for r in failures)
    return failures


def test_the_producer_logs_each_kafka_error_once_in_json(tmp_path: Path) -> None:
    env = run_env(
        tmp_path,
        CRYPTOPIPE_PRODUCER_METRICS_PORT=str(port_base() + 98),
        CRYPTOPIPE_FLUSH_TIMEOUT_S="2",
    )
    argv = [sys.executable, "-m", "cryptopipe.cli", "produce", "--source", "synthetic"]
    argv += ["--symbols", "btcusdt", "--rate", "20", "--duration", "3"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1, proc.stderr[-3000:]  # nothing acknowledged: a Kafka failure
    raw, records, other = split_stderr(proc.stderr)
    assert raw == [], "no raw librdkafka line on stderr"
    assert not [line for line in other if "rdkafka" in line or "Connection refused" in line]
    failures = assert_logged_once(records)
    assert {r["kafka_client"] for r in failures} == {"cryptopipe-producer#producer-1"}
    # what only the error callback knows is logged too, once (one broker went down, once)
    down = [r for r in records if "brokers are down" in r["message"]]
    assert [(r["level"], r["message"]) for r in down] == [("warning", "1/1 brokers are down")]


CLIENTS_SCRIPT = textwrap.dedent(
    """
    import sys
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient
    from cryptopipe.config import CommonSettings
    from cryptopipe.observability.logs import configure_logging

    configure_logging("clients", "INFO", "json")
    conf = CommonSettings().kafka_client_config()  # what every client of the project starts from

    producer = Producer({**conf, "message.timeout.ms": 1500})  # the DLQ publisher's kind
    producer.produce("t", b"x")
    producer.flush(2)

    consumer = Consumer({**conf, "group.id": "g"})  # the audit's kind
    try:
        consumer.get_watermark_offsets(TopicPartition("t", 0), timeout=2)
    except Exception as exc:
        print("consumer:", exc, file=sys.stdout)
    consumer.close()

    admin = AdminClient(conf)  # the lag reader's and the stack's kind
    try:
        admin.list_topics(timeout=2)
    except Exception as exc:
        print("admin:", exc, file=sys.stdout)
    admin.poll(0)

    from cryptopipe.processor.job import latest_offsets_reader
    from cryptopipe.processor.settings import ProcessorSettings

    latest, close = latest_offsets_reader(ProcessorSettings())  # the processor's lag reader
    for _ in range(2):  # each read hands over the lines the one before queued
        try:
            latest("t")
        except Exception as exc:
            print("lag reader:", exc, file=sys.stdout)
    close()
    """
)


def test_every_kind_of_client_logs_through_our_logger(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CLIENTS_SCRIPT],
        env=run_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    raw, records, other = split_stderr(proc.stderr)
    assert raw == [], "no raw librdkafka line on stderr"
    assert other == []
    failures = assert_logged_once(records)
    per_client = Counter(r["kafka_client"] for r in failures)
    assert set(per_client) == {
        "rdkafka#producer-1",
        "rdkafka#consumer-2",
        "rdkafka#producer-3",
        "rdkafka#producer-4",
    }
