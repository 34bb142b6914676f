"""Settings of the local stack (`cryptopipe stack ...`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from cryptopipe.config import CommonSettings

KAFKA_PORT_STEP = 100  # broker i listens on kafka_port + 100*i, controller on +2 of that


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
