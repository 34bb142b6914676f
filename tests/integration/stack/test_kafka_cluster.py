"""`stack up --brokers 3`: a 3-node KRaft cluster; survives one broker, fails clearly at two."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient

from cryptopipe.stack import kafka
from cryptopipe.stack.manager import Stack
from tests.conftest import port_base, stack_settings_for

pytestmark = [pytest.mark.kafka, pytest.mark.cluster]


def processes_using(path: Path) -> list[int]:
    """Pids whose command line mentions ``path`` (what `down` must leave behind: none)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if str(path).encode() in cmdline:
                pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state_dir = tmp_path_factory.mktemp("cluster")
    the_stack = Stack(stack_settings_for(state_dir, port_base() + 500, brokers=3))
    try:
        the_stack.up()
        yield the_stack
    finally:
        the_stack.down()
        assert processes_using(state_dir) == [], "stack down leaves no process behind"


def write(stack: Stack, **conf: Any) -> KafkaError | None:
    """Write one acks=all record; return the delivery error (None = acknowledged)."""
    producer = Producer(
        {
            "bootstrap.servers": stack.settings.bootstrap_servers(),
            "acks": "all",
            "message.timeout.ms": 15000,
            **conf,
        }
    )
    result: list[KafkaError | None] = []
    producer.produce(
        stack.settings.topic_trades,
        key=b"BTCUSDT",
        value=b"{}",
        on_delivery=lambda err, _msg: result.append(err),
    )
    producer.flush(30)
    assert len(result) == 1, "every write gets a delivery report"
    return result[0]


def test_three_brokers_form_a_replicated_cluster(cluster: Stack) -> None:
    assert kafka.live_broker_ids(cluster.settings) == {1, 2, 3}
    admin = AdminClient({"bootstrap.servers": cluster.settings.bootstrap_servers()})
    topic = admin.list_topics(timeout=10).topics[cluster.settings.topic_trades]
    for partition in topic.partitions.values():
        assert len(partition.replicas) == 3
        assert len(partition.isrs) == 3
    assert {s.name: s.state for s in cluster.status()} == {
        "mariadb": "healthy",
        "kafka-1": "healthy",
        "kafka-2": "healthy",
        "kafka-3": "healthy",
        "alertmanager": "healthy",
        "prometheus": "healthy",
    }


def test_acks_all_survives_one_broker_and_fails_clearly_with_two_down(cluster: Stack) -> None:
    assert write(cluster, **{"enable.idempotence": True}) is None

    cluster.process("kafka-3").stop(30)
    assert {s.name: s.state for s in cluster.status()}["kafka-3"] == "stopped"
    assert write(cluster, **{"enable.idempotence": True}) is None, "RF 3, min ISR 2: one down is ok"

    cluster.process("kafka-2").stop(30)
    time.sleep(1)
    err = write(cluster, retries=0)
    assert err is not None, "with 2 of 3 brokers down an acks=all write must not succeed"
    assert err.code() in (
        KafkaError.NOT_ENOUGH_REPLICAS,
        KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError._MSG_TIMED_OUT,
    ), err
    idempotent_err = write(cluster, **{"enable.idempotence": True})
    assert idempotent_err is not None, "the pipeline's producer settings surface the failure too"
