"""The default bootstrap list is every broker the local stack recorded in its state dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from cryptopipe.config import CommonSettings
from cryptopipe.processor.settings import ProcessorSettings
from cryptopipe.producer.settings import ProducerSettings
from cryptopipe.stack.layout import LAYOUT_FILE, read_layout
from cryptopipe.stack.manager import Stack
from cryptopipe.stack.settings import StackSettings

THREE = "127.0.0.1:40092,127.0.0.1:40192,127.0.0.1:40292"


def record_three_brokers(state_dir: Path) -> None:
    """What `stack up --brokers 3` records before it starts anything."""
    Stack(StackSettings(state_dir=state_dir, brokers=3, kafka_port=40092))._record_layout()


def test_up_records_every_broker_and_commands_connect_through_all(tmp_path: Path) -> None:
    record_three_brokers(tmp_path)
    layout = read_layout(tmp_path)
    assert layout is not None
    assert layout.brokers == 3
    assert layout.kafka_ports == (40092, 40192, 40292)
    # no bootstrap setting, no port setting: the state dir's stack, all three brokers
    assert CommonSettings(state_dir=tmp_path).kafka_bootstrap_servers == THREE
    assert ProducerSettings(state_dir=tmp_path).kafka_client_config()["bootstrap.servers"] == THREE
    assert ProcessorSettings(state_dir=tmp_path).kafka_bootstrap_servers == THREE
    # the same port given explicitly still is that stack
    assert CommonSettings(state_dir=tmp_path, kafka_port=40092).kafka_bootstrap_servers == THREE


def test_the_state_dir_from_the_environment_is_the_one_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    record_three_brokers(tmp_path)
    monkeypatch.delenv("CRYPTOPIPE_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("CRYPTOPIPE_KAFKA_PORT", raising=False)
    monkeypatch.setenv("CRYPTOPIPE_STATE_DIR", str(tmp_path))
    assert ProducerSettings().kafka_bootstrap_servers == THREE


def test_explicit_settings_always_win(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    record_three_brokers(tmp_path)
    explicit = CommonSettings(state_dir=tmp_path, kafka_bootstrap_servers="b-1:9096,b-2:9096")
    assert explicit.kafka_bootstrap_servers == "b-1:9096,b-2:9096"
    monkeypatch.setenv("CRYPTOPIPE_KAFKA_BOOTSTRAP_SERVERS", "b-3:9096")
    assert CommonSettings(state_dir=tmp_path).kafka_bootstrap_servers == "b-3:9096"
    monkeypatch.delenv("CRYPTOPIPE_KAFKA_BOOTSTRAP_SERVERS")
    # another port than the recorded stack's: somewhere else, the record does not apply
    other = CommonSettings(state_dir=tmp_path, kafka_port=41092)
    assert other.kafka_bootstrap_servers == "127.0.0.1:41092"


def test_without_a_usable_record_it_is_the_first_broker(tmp_path: Path) -> None:
    assert CommonSettings(state_dir=tmp_path, kafka_port=40092).kafka_bootstrap_servers == (
        "127.0.0.1:40092"
    )
    (tmp_path / LAYOUT_FILE).write_text('{"brokers": 3}')  # written before ports were recorded
    assert CommonSettings(state_dir=tmp_path).kafka_bootstrap_servers == "127.0.0.1:9092"
    (tmp_path / LAYOUT_FILE).write_text("{not json")
    assert CommonSettings(state_dir=tmp_path).kafka_bootstrap_servers == "127.0.0.1:9092"


def test_status_and_down_act_on_the_recorded_cluster(tmp_path: Path) -> None:
    record_three_brokers(tmp_path)
    stack = Stack(StackSettings(state_dir=tmp_path, kafka_port=40092))
    assert stack.settings.brokers == 3
    assert stack.service_names() == [
        "mariadb",
        "kafka-1",
        "kafka-2",
        "kafka-3",
        "alertmanager",
        "prometheus",
    ]


def test_status_and_down_reach_the_toxiproxy_up_started_whatever_its_port_setting_now(
    tmp_path: Path,
) -> None:
    """`stack up --toxiproxy` on a port of its own (the chaos tests, a user's
    CRYPTOPIPE_TOXIPROXY_PORT): a later `status` or `down` without that setting still checks
    and stops the Toxiproxy that runs, on its port (CI saw it "unhealthy" on 8474)."""
    up = Stack(StackSettings(state_dir=tmp_path, toxiproxy=True, toxiproxy_port=40474))
    up._record_layout()
    later = Stack(StackSettings(state_dir=tmp_path))
    assert later.settings.toxiproxy_port == 40474
    explicit = Stack(StackSettings(state_dir=tmp_path, toxiproxy_port=41474))
    assert explicit.settings.toxiproxy_port == 41474
    Stack(StackSettings(state_dir=tmp_path))._record_layout()  # Toxiproxy not running: forgotten
    assert Stack(StackSettings(state_dir=tmp_path)).settings.toxiproxy_port == 8474


def test_an_up_without_toxiproxy_keeps_the_port_of_the_toxiproxy_that_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Stack built before Toxiproxy was added (the test session's) calling `up` again must not
    overwrite the recorded port with its own default (CI: status then probed 8474)."""
    stale = Stack(StackSettings(state_dir=tmp_path))
    Stack(StackSettings(state_dir=tmp_path, toxiproxy=True, toxiproxy_port=40474))._record_layout()
    monkeypatch.setattr(Stack, "_optional", lambda self: ["toxiproxy"])  # it runs
    stale._record_layout()
    assert Stack(StackSettings(state_dir=tmp_path)).settings.toxiproxy_port == 40474
