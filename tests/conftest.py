"""Session fixtures: a real local stack (Kafka, MariaDB, Prometheus, Alertmanager) started by the
project's own stack code, on ports derived from CRYPTOPIPE_TEST_PORT_BASE so several test sessions
(and a user's own stack on the default ports) can run side by side."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest

from cryptopipe.config import default_cache_dir
from cryptopipe.stack import mariadb
from cryptopipe.stack.manager import Stack
from cryptopipe.stack.settings import StackSettings


def port_base() -> int:
    return int(os.environ.get("CRYPTOPIPE_TEST_PORT_BASE", "29000"))


def stack_settings_for(state_dir: Path, base: int, **extra: Any) -> StackSettings:
    """Settings of a test stack whose every port is ``base + <well-known suffix>``."""
    return StackSettings(
        state_dir=state_dir,
        cache_dir=Path(os.environ.get("CRYPTOPIPE_CACHE_DIR", str(default_cache_dir()))),
        kafka_port=base + 92,
        kafka_controller_port=base + 94,
        kafka_bootstrap_servers="",
        mysql_port=base + 306,
        prometheus_port=base + 90,
        alertmanager_port=base + 93,
        producer_metrics_port=base + 101,
        processor_metrics_port=base + 102,
        audit_metrics_port=base + 103,
        **extra,
    )


@dataclass
class RunningStack:
    """The running test stack and what a service needs to reach it."""

    settings: StackSettings
    stack: Stack

    def common_kwargs(self) -> dict[str, Any]:
        """CommonSettings fields for building any service's settings against this stack."""
        s = self.settings
        return {
            "state_dir": s.state_dir,
            "cache_dir": s.cache_dir,
            "kafka_port": s.kafka_port,
            "kafka_bootstrap_servers": s.bootstrap_servers(),
            "mysql_host": s.mysql_host,
            "mysql_port": s.mysql_port,
            "mysql_database": s.mysql_database,
            "mysql_user": s.mysql_user,
            "mysql_password": s.mysql_app_password(),
            "producer_metrics_port": s.producer_metrics_port,
            "processor_metrics_port": s.processor_metrics_port,
            "audit_metrics_port": s.audit_metrics_port,
            "topic_trades": s.topic_trades,
            "topic_dlq": s.topic_dlq,
        }

    def env(self) -> dict[str, str]:
        """The same as CRYPTOPIPE_* variables, for running `cryptopipe ...` as a subprocess."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOPIPE_")}
        s = self.settings
        stack_only = {
            "kafka_controller_port": s.kafka_controller_port,
            "prometheus_port": s.prometheus_port,
            "alertmanager_port": s.alertmanager_port,
        }
        for key, value in {**self.common_kwargs(), **stack_only}.items():
            env[f"CRYPTOPIPE_{key.upper()}"] = str(value)
        return env

    def admin_connection(self) -> pymysql.connections.Connection:
        return mariadb.admin_connection(self.settings)

    def app_connection(self) -> pymysql.connections.Connection:
        return mariadb.app_connection(self.settings)


@contextmanager
def started_stack(settings: StackSettings) -> Iterator[RunningStack]:
    """A stack of a test's own on ``settings``: up, then down (and purged) at the end."""
    the_stack = Stack(settings)
    try:
        the_stack.up()
        yield RunningStack(settings, the_stack)
    finally:
        the_stack.down()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    settings = stack_settings_for(tmp_path_factory.mktemp("stack"), port_base())
    the_stack = Stack(settings)
    try:
        the_stack.up()
        yield RunningStack(settings, the_stack)
    finally:
        the_stack.down(purge=False)
