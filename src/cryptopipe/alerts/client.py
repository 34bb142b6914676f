"""Read the alerts that fire now from Alertmanager's API v2 or Prometheus's /api/v1/alerts.

Alertmanager is the default source: it is what notifies people, after grouping and inhibition,
so it says which alerts reach a receiver (``active``) and which are silenced or inhibited.
Prometheus is the fallback (and ``--source prometheus``): it still knows what fires when
Alertmanager is down, and it also shows ``pending`` alerts (condition true, ``for`` not over).
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from cryptopipe.alerts.settings import AlertsSettings

logger = logging.getLogger(__name__)

Source = Literal["auto", "alertmanager", "prometheus"]

SEVERITY_ORDER = {"page": 0, "ticket": 1}


class AlertsUnavailableError(RuntimeError):
    """Neither source answered; the message says what to do next."""


@dataclass(frozen=True, slots=True)
class Alert:
    name: str
    severity: str
    slo: str
    service: str
    state: str  # alertmanager: active | inhibited | silenced; prometheus: firing | pending
    since: str  # ISO-8601 UTC, when the alert started firing (or pending)
    summary: str
    runbook: str
    labels: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AlertsView:
    source: Literal["alertmanager", "prometheus"]
    url: str
    alerts: list[Alert]
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "url": self.url,
            "note": self.note,
            "alerts": [a.to_json() for a in self.alerts],
        }


def _get_json(address: str, timeout_s: float) -> Any:
    with urllib.request.urlopen(address, timeout=timeout_s) as resp:
        return json.load(resp)


_FRACTION = re.compile(r"\.(\d+)")


def iso_utc(text: str) -> str:
    """Normalise an RFC 3339 time from either API to ``YYYY-MM-DDTHH:MM:SSZ`` (UTC)."""
    if not text:
        return ""
    # Go prints up to nanoseconds; fromisoformat takes at most microseconds
    head = _FRACTION.sub(lambda m: "." + m.group(1)[:6], text.replace("Z", "+00:00"), count=1)
    parsed = datetime.fromisoformat(head)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _alert(labels: dict[str, str], annotations: dict[str, str], state: str, since: str) -> Alert:
    return Alert(
        name=labels.get("alertname", ""),
        severity=labels.get("severity", ""),
        slo=labels.get("slo", ""),
        service=labels.get("service", ""),
        state=state,
        since=iso_utc(since),
        summary=annotations.get("summary", ""),
        runbook=annotations.get("runbook_url", ""),
        labels=dict(labels),
    )


def _sorted(alerts: list[Alert]) -> list[Alert]:
    return sorted(alerts, key=lambda a: (SEVERITY_ORDER.get(a.severity, 9), a.since, a.name, a.slo))


def from_alertmanager(settings: AlertsSettings) -> AlertsView:
    base = settings.alertmanager_base()
    raw = _get_json(f"{base}/api/v2/alerts", settings.alerts_timeout_s)
    alerts = []
    for item in raw:
        status = item.get("status") or {}
        state = str(status.get("state", ""))
        if status.get("inhibitedBy"):
            state = "inhibited"
        elif status.get("silencedBy"):
            state = "silenced"
        alerts.append(
            _alert(
                item.get("labels") or {},
                item.get("annotations") or {},
                state,
                str(item.get("startsAt", "")),
            )
        )
    return AlertsView("alertmanager", base, _sorted(alerts))


def from_prometheus(settings: AlertsSettings) -> AlertsView:
    base = settings.prometheus_base()
    raw = _get_json(f"{base}/api/v1/alerts", settings.alerts_timeout_s)
    alerts = [
        _alert(
            item.get("labels") or {},
            item.get("annotations") or {},
            str(item.get("state", "")),
            str(item.get("activeAt", "")),
        )
        for item in raw.get("data", {}).get("alerts", [])
    ]
    return AlertsView("prometheus", base, _sorted(alerts))


def current_alerts(settings: AlertsSettings, source: Source = "auto") -> AlertsView:
    """What fires now. ``auto``: Alertmanager, else Prometheus (with a note saying so)."""
    if source == "prometheus":
        try:
            return from_prometheus(settings)
        except (OSError, ValueError) as exc:
            raise AlertsUnavailableError(_unreachable(settings, prometheus=exc)) from exc
    try:
        return from_alertmanager(settings)
    except (OSError, ValueError) as am_exc:
        if source == "alertmanager":
            raise AlertsUnavailableError(_unreachable(settings, alertmanager=am_exc)) from am_exc
        logger.debug("alertmanager unreachable", exc_info=True)
        try:
            view = from_prometheus(settings)
        except (OSError, ValueError) as prom_exc:
            raise AlertsUnavailableError(
                _unreachable(settings, alertmanager=am_exc, prometheus=prom_exc)
            ) from prom_exc
        note = (
            f"Alertmanager at {settings.alertmanager_base()} did not answer ({_reason(am_exc)}): "
            "listing Prometheus's alerts instead (nobody is being notified; "
            "`cryptopipe stack status` shows why)"
        )
        return AlertsView(view.source, view.url, view.alerts, note)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return str(exc.reason)
    return str(exc)


def _unreachable(
    settings: AlertsSettings,
    *,
    alertmanager: BaseException | None = None,
    prometheus: BaseException | None = None,
) -> str:
    lines = ["cannot read alerts:"]
    if alertmanager is not None:
        lines.append(f"  Alertmanager at {settings.alertmanager_base()}: {_reason(alertmanager)}")
    if prometheus is not None:
        lines.append(f"  Prometheus at {settings.prometheus_base()}: {_reason(prometheus)}")
    lines.append(
        "Is the stack up? Run `cryptopipe stack status` (and `cryptopipe stack up` to start it), "
        "or point at yours with CRYPTOPIPE_ALERTMANAGER_URL / CRYPTOPIPE_PROMETHEUS_URL."
    )
    return "\n".join(lines)
