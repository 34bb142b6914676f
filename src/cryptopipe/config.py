"""Settings shared by every cryptopipe service.

Each service has exactly one typed settings class (``StackSettings``, ``ProducerSettings``,
``ProcessorSettings``, ...) that extends :class:`CommonSettings`. Every field is also an
environment variable with the ``CRYPTOPIPE_`` prefix (``state_dir`` -> ``CRYPTOPIPE_STATE_DIR``).
A settings object is built once in the command's ``main`` and passed down; nothing else reads
the environment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cryptopipe.observability.logs import KAFKA_CLIENT_LOG
from cryptopipe.stack.layout import local_bootstrap_servers

ENV_PREFIX = "CRYPTOPIPE_"


def default_state_dir() -> Path:
    """Per-user state dir: ``$XDG_STATE_HOME/cryptopipe`` or ``~/.local/state/cryptopipe``."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "cryptopipe"


def default_cache_dir() -> Path:
    """Per-user cache for downloaded jars: ``$XDG_CACHE_HOME/cryptopipe``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cryptopipe"


SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]


class CommonSettings(BaseSettings):
    """Where things are: the state dir, Kafka, MySQL and the metrics ports."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", validate_default=True, case_sensitive=False
    )

    state_dir: Path = Field(
        default_factory=default_state_dir,
        description="All runtime state: broker logs, database files, checkpoints, logs.",
    )
    cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description="Downloaded jars (Kafka, Spark connector), kept across `stack down --purge`.",
    )

    # Kafka
    kafka_port: int = Field(9092, description="Client port of the first local broker.")
    kafka_bootstrap_servers: str = Field(
        "",
        description="host:port list; empty means every broker of the local stack in state_dir.",
    )
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: str = Field("", description="e.g. SCRAM-SHA-512, PLAIN, AWS_MSK_IAM")
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    kafka_ssl_ca_location: str = ""
    topic_trades: str = "crypto.trades"
    topic_dlq: str = "crypto.trades.dlq"

    # MySQL / MariaDB
    mysql_host: str = "127.0.0.1"
    mysql_port: int = 3307
    mysql_database: str = "cryptopipe"
    mysql_user: str = "cryptopipe"
    mysql_password: SecretStr | None = Field(
        None, description="App user's password; unset means the one the local stack generated."
    )

    # Tracing (exporter and service name come from the standard OTEL_* variables)
    trace_sample_ratio: float = Field(
        0.01, ge=0.0, le=1.0, description="Share of trades traced end to end (head sampling)."
    )

    # Metrics endpoints (Prometheus scrapes these)
    producer_metrics_port: int = 9101
    processor_metrics_port: int = 9102
    audit_metrics_port: int = 9103

    @model_validator(mode="after")
    def _derive_bootstrap(self) -> CommonSettings:
        """Empty means the local stack: every broker `stack up` recorded in the state dir."""
        if not self.kafka_bootstrap_servers:
            self.kafka_bootstrap_servers = local_bootstrap_servers(
                self.state_dir,
                self.kafka_port,
                port_is_explicit="kafka_port" in self.model_fields_set,
            )
        return self

    # Derived locations -----------------------------------------------------------------
    @property
    def secrets_dir(self) -> Path:
        return self.state_dir / "secrets"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    def mysql_app_password(self) -> str:
        """The app user's password: the setting, else the one `stack up` generated."""
        if self.mysql_password is not None:
            return self.mysql_password.get_secret_value()
        secret = self.secrets_dir / "mysql-app.json"
        if not secret.exists():
            raise RuntimeError(
                f"no MySQL password: set CRYPTOPIPE_MYSQL_PASSWORD, or run `cryptopipe stack up` "
                f"(it writes {secret})"
            )
        data: dict[str, Any] = json.loads(secret.read_text())
        return str(data["password"])

    def kafka_client_config(self) -> dict[str, Any]:
        """librdkafka / confluent-kafka connection properties (no secrets are logged).

        Every client the project builds starts from these: they also route librdkafka's log
        lines through Python logging (our JSON format), never raw onto stderr."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.kafka_bootstrap_servers,
            "security.protocol": self.kafka_security_protocol,
            "logger": KAFKA_CLIENT_LOG,
        }
        if self.kafka_sasl_mechanism:
            conf["sasl.mechanism"] = self.kafka_sasl_mechanism
            conf["sasl.username"] = self.kafka_sasl_username
            conf["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        if self.kafka_ssl_ca_location:
            conf["ssl.ca.location"] = self.kafka_ssl_ca_location
        return conf
