"""librdkafka's log lines become our JSON records, once, for every client the project builds."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaError

from cryptopipe.config import CommonSettings
from cryptopipe.observability.logs import KAFKA_CLIENT_LOG, JsonFormatter, KafkaClientLog

SRC = Path(__file__).resolve().parents[3]
FAIL_TEXT = (
    "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused "
    "(after 0ms in state CONNECT)"
)


@pytest.fixture
def records() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("test"))
    log = logging.getLogger("librdkafka")
    log.addHandler(handler)
    try:
        yield out
    finally:
        log.removeHandler(handler)


def docs(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_librdkafka_line_is_a_json_record_with_its_client_and_facility(
    records: io.StringIO,
) -> None:
    log = KafkaClientLog()
    # exactly how confluent-kafka calls the `logger` of a client
    log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", f"[thrd:x/1]: {FAIL_TEXT}")
    [doc] = docs(records)
    assert doc["level"] == "error"
    assert doc["logger"] == "librdkafka"
    assert doc["message"] == FAIL_TEXT
    assert doc["kafka_client"] == "rdkafka#producer-1"
    assert doc["kafka_facility"] == "FAIL"
    assert doc["kafka_thread"] == "x/1"


def test_an_error_callback_logs_only_what_no_line_said(records: io.StringIO) -> None:
    log = KafkaClientLog()
    log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", f"[thrd:x/1]: {FAIL_TEXT}")
    log.error(KafkaError(KafkaError._TRANSPORT, FAIL_TEXT))  # the same failure, again
    log.error(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))  # no line said it
    messages = [(d["level"], d["message"]) for d in docs(records)]
    assert messages == [("error", FAIL_TEXT), ("warning", "1/1 brokers are down")]


def test_every_client_config_carries_the_logger(tmp_path: Path) -> None:
    conf = CommonSettings(state_dir=tmp_path, kafka_sasl_mechanism="PLAIN").kafka_client_config()
    assert conf["logger"] is KAFKA_CLIENT_LOG


BENCH_PEERS = SRC / "src" / "cryptopipe" / "bench" / "peers"


def test_no_module_builds_a_kafka_client_without_the_logging_helper() -> None:
    """A module that builds a confluent-kafka client gets its config from
    ``kafka_client_config()`` (or the producer's ``producer_config()`` built on it, or passes
    ``KAFKA_CLIENT_LOG`` itself): a new client cannot silently print raw librdkafka lines.
    The bench's peer scripts are exempt: they are what a user writes instead of cryptopipe, run
    in processes of their own."""
    builds = re.compile(r"\b(Producer|Consumer|AdminClient)\(")
    offenders = []
    roots = [SRC / "src" / "cryptopipe", SRC / "services", SRC / "observability"]
    for root in roots:
        for path in root.rglob("*.py"):
            if path.is_symlink():
                continue
            text = path.read_text()
            if BENCH_PEERS in path.parents:
                continue
            helper = any(
                h in text for h in ("kafka_client_config(", "producer_config(", "KAFKA_CLIENT_LOG")
            )
            if "confluent_kafka" in text and builds.search(text) and not helper:
                offenders.append(str(path.relative_to(SRC)))
    assert offenders == []
