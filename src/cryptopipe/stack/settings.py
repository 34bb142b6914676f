"""Settings of the local stack (`cryptopipe stack ...`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from cryptopipe.config import CommonSettings

KAFKA_PORT_STEP = 100  # broker i listens on kafka_port + 100*i, controller on +2 of that
# each broker's CHAOS listener (advertised at its Toxiproxy proxy): proxy on +20, real on +21
KAFKA_PROXY_OFFSET = 20
KAFKA_CHAOS_OFFSET = 21
MYSQL_PROXY_OFFSET = 10  # Toxiproxy's proxy in front of MariaDB: mysql_port + 10


class StackSettings(CommonSettings):
    """Where the local stack's servers listen and how they are sized.

    Ports are settings so a test stack can run beside a user's (see tests/conftest.py).
    """

    brokers: int = Field(1, description="Kafka brokers in the local cluster: 1 or 3.")
    kafka_controller_port: int = Field(
        0, description="First KRaft controller port; 0 means kafka_port + 2."
    )
    kafka_heap: str = Field("512m", description="JVM heap of each broker (-Xmx).")
    topic_partitions: int = Field(6, description="Partitions of crypto.trades and the DLQ.")
    topic_retention_ms: int = Field(7 * 24 * 3600 * 1000, description="Topic retention (ms).")
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    alert_webhook_url: str = Field(
        "",
        description="Where Alertmanager posts alerts (every webhook receiver of "
        "observability/alertmanager.yml); empty keeps that file's URLs.",
    )
    toxiproxy: bool = Field(
        False,
        description="Also run Toxiproxy with a proxy in front of each broker and MariaDB, for "
        "the chaos experiments (built by `cryptopipe stack fetch --toxiproxy`, needs Go).",
    )
    toxiproxy_port: int = Field(8474, description="Toxiproxy's HTTP API.")
    start_timeout_s: float = Field(120.0, description="How long `up` waits for each service.")
    stop_timeout_s: float = Field(30.0, description="SIGTERM grace before SIGKILL on `down`.")
    rules_dirs: list[Path] = Field(
        default_factory=list,
        description="Extra Prometheus rule dirs; the repo's observability/rules is always loaded.",
    )

    @model_validator(mode="after")
    def _check_brokers(self) -> StackSettings:
        if self.brokers not in (1, 3):
            raise ValueError("brokers must be 1 or 3")
        if not self.kafka_controller_port:
            self.kafka_controller_port = self.kafka_port + 2
        return self

    def broker_ports(self) -> list[int]:
        return [self.kafka_port + KAFKA_PORT_STEP * i for i in range(self.brokers)]

    def controller_ports(self) -> list[int]:
        return [self.kafka_controller_port + KAFKA_PORT_STEP * i for i in range(self.brokers)]

    def bootstrap_servers(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.broker_ports())

    def kafka_chaos_ports(self) -> list[int]:
        return [p + KAFKA_CHAOS_OFFSET for p in self.broker_ports()]

    def kafka_proxy_ports(self) -> list[int]:
        return [p + KAFKA_PROXY_OFFSET for p in self.broker_ports()]

    def proxied_bootstrap_servers(self) -> str:
        """Through Toxiproxy: a client bootstrapped here talks to every broker via its proxy."""
        return ",".join(f"127.0.0.1:{p}" for p in self.kafka_proxy_ports())

    def mysql_proxy_port(self) -> int:
        return self.mysql_port + MYSQL_PROXY_OFFSET
