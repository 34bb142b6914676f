"""`stack up --brokers 3`: a 3-node KRaft cluster; survives one broker, fails clearly at two."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient

from cryptopipe.config import CommonSettings
from cryptopipe.stack import kafka
from cryptopipe.stack.manager import Stack
from cryptopipe.stack.process import wait_until
from tests.conftest import port_base, stack_settings_for
from tests.integration.stack.helpers import RAW_LIBRDKAFKA

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


def command_env(stack: Stack) -> dict[str, str]:
    """What a user has: the state dir (and ports off the defaults), no Kafka setting at all."""
    s = stack.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOPIPE_")}
    env.update(
        {
            "CRYPTOPIPE_STATE_DIR": str(s.state_dir),
            "CRYPTOPIPE_MYSQL_PORT": str(s.mysql_port),
            "CRYPTOPIPE_PRODUCER_METRICS_PORT": str(s.producer_metrics_port),
            "CRYPTOPIPE_PROCESSOR_METRICS_PORT": str(s.processor_metrics_port),
            "CRYPTOPIPE_AUDIT_METRICS_PORT": str(s.audit_metrics_port),
            "CRYPTOPIPE_LOG_FORMAT": "json",
        }
    )
    return env


def cryptopipe(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cryptopipe.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def assert_kafka_logs_are_ours(stderr: str, dead_port: int) -> None:
    """Whatever the clients say about the dead broker (they try it only if they pick it to
    bootstrap from) comes out as our JSON records, once, and never as raw lines."""
    assert not [line for line in stderr.splitlines() if RAW_LIBRDKAFKA.match(line)]
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    said = [r for r in records if f"127.0.0.1:{dead_port}" in r["message"]]
    assert {r["logger"] for r in said} <= {"librdkafka"}, "once: no error_cb echo"


def test_commands_find_every_broker_with_broker_1_killed(
    cluster: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No CRYPTOPIPE_KAFKA_BOOTSTRAP_SERVERS, no CRYPTOPIPE_KAFKA_PORT: the commands take the
    brokers `up` recorded in the state dir, so broker 1 is not a single point of failure."""
    kafka_1 = cluster.process("kafka-1")
    port_1 = cluster.settings.kafka_port
    kafka_1.kill()
    assert wait_until(lambda: not kafka_1.is_running() and not kafka.port_open(port_1), 30)
    env = command_env(cluster)
    try:
        # metadata, with the settings every command builds
        for key in [k for k in os.environ if k.startswith("CRYPTOPIPE_")]:
            monkeypatch.delenv(key)
        settings = CommonSettings(state_dir=cluster.settings.state_dir)
        assert settings.kafka_bootstrap_servers == cluster.settings.bootstrap_servers()
        admin = AdminClient(settings.kafka_client_config())
        # metadata keeps coming, until the controller fences broker 1 (its session times out)
        assert wait_until(lambda: set(admin.list_topics(timeout=10).brokers) == {2, 3}, 60)
        topic = admin.list_topics(timeout=10).topics[cluster.settings.topic_trades]
        assert len(topic.partitions) == 6
        assert all(p.leader in (2, 3) for p in topic.partitions.values()), "led by 2 and 3"
        admin.poll(0)

        produced = cryptopipe(
            env, "produce", "--source", "synthetic", "--symbols", "btcusdt", "--count", "300"
        )
        assert produced.returncode == 0, produced.stderr[-3000:]
        assert "produced 300 trades" in produced.stderr
        assert_kafka_logs_are_ours(produced.stderr, port_1)

        # the audit reads the whole topic through brokers 2 and 3; no processor ran, so the
        # trades are reported missing from MySQL (exit 1), not "cannot reach Kafka" (exit 2)
        audited = cryptopipe(env, "audit", "--symbols", "BTCUSDT", "--json")
        assert audited.returncode == 1, audited.stdout[-2000:] + audited.stderr[-3000:]
        report = json.loads(audited.stdout)
        assert report["topic_messages"] >= 300
        assert_kafka_logs_are_ours(audited.stderr, port_1)
    finally:
        cluster.up()  # broker 1 back, every partition's ISR full again
    assert kafka.live_broker_ids(cluster.settings) == {1, 2, 3}


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


def test_down_stops_every_broker_by_sigterm(cluster: Stack) -> None:
    """A clean controlled shutdown of the whole cluster, no SIGKILL fallback: the nodes are
    signalled together, so none is left without a controller quorum to approve its shutdown."""
    cluster.up()
    assert kafka.live_broker_ids(cluster.settings) == {1, 2, 3}
    load = os.getloadavg()
    started = time.monotonic()
    results = cluster.down()
    took = time.monotonic() - started
    print(f"\nstack down of 3 brokers: {took:.1f}s, load {load[0]:.2f}")
    for result in results:
        print(f"  {result}")
    assert {r.name for r in results} == set(cluster.service_names())
    assert {r.name: r.signal for r in results} == {r.name: "SIGTERM" for r in results}
    assert all(not cluster.process(r.name).is_running() for r in results)
    for broker in kafka.broker_layouts(cluster.settings):
        log = cluster.process(broker.service_name).log_file.read_text()
        last_stop = log[log.rindex("Terminating process due to signal SIGTERM") :]
        assert f"[BrokerServer id={broker.node_id}] shut down completed" in last_stop
