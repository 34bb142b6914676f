"""Settings of `cryptopipe alerts`: where the stack's Alertmanager and Prometheus listen."""

from __future__ import annotations

from pydantic import Field

from cryptopipe.stack.prometheus import url
from cryptopipe.stack.settings import StackSettings


class AlertsSettings(StackSettings):
    """The local stack's ports (``CRYPTOPIPE_ALERTMANAGER_PORT`` ...), or explicit URLs."""

    alertmanager_url: str = Field(
        "", description="Alertmanager base URL; empty means the local stack's (its port)."
    )
    prometheus_url: str = Field(
        "", description="Prometheus base URL; empty means the local stack's (its port)."
    )
    alerts_timeout_s: float = Field(5.0, gt=0, description="HTTP timeout per request.")

    def alertmanager_base(self) -> str:
        return (self.alertmanager_url or url(self.alertmanager_port)).rstrip("/")

    def prometheus_base(self) -> str:
        return (self.prometheus_url or url(self.prometheus_port)).rstrip("/")
