"""What the experiments assert, as Chaos Toolkit Python probes.

An alert counts when Alertmanager holds it active, not silenced and not inhibited: what would
notify a person. Times are measured from the fault (or the repair) that cryptopipe.chaos.timeline
recorded. A probe that waits for something and does not see it raises ActivityFailed, so the
experiment deviates; the probes of a steady-state hypothesis return values for its tolerances.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
from chaoslib.exceptions import ActivityFailed

from cryptopipe.chaos import timeline
from cryptopipe.chaos.settings import ChaosSettings

logger = logging.getLogger(__name__)

POLL_S = 2.0
LAG_QUERY = "max(cryptopipe_processor_kafka_offsets_behind_latest)"
FRESH_S = 15.0  # the freshness SLI's threshold (slo/cryptopipe.yaml)
WINDOW_S = 60  # the shortest candle window the audit judges (1m)


def _active_alerts(settings: ChaosSettings) -> list[dict[str, Any]]:
    resp = httpx.get(
        f"{settings.alertmanager_url()}/api/v2/alerts",
        params={"active": "true", "silenced": "false", "inhibited": "false"},
        timeout=10,
    )
    resp.raise_for_status()
    return [a for a in resp.json() if a.get("status", {}).get("state") == "active"]


def _named(
    alerts: list[dict[str, Any]], alertname: str, severity: str | None = None
) -> list[dict[str, Any]]:
    """The alerts called ``alertname`` (of ``severity`` only, if given: the burn-rate page and
    ticket of an SLO share their name)."""
    return [
        a
        for a in alerts
        if a.get("labels", {}).get("alertname") == alertname
        and severity in (None, a.get("labels", {}).get("severity"))
    ]


def firing(severity: str = "page") -> list[str]:
    """The alerts of ``severity`` that would notify now (names, sorted)."""
    alerts = _active_alerts(ChaosSettings())
    return sorted(
        {a["labels"]["alertname"] for a in alerts if a["labels"].get("severity") == severity}
    )


def alert_fired(alertname: str, within_s: float, severity: str | None = None) -> dict[str, Any]:
    """Wait until ``alertname`` notifies; how long after the fault it did."""
    settings = ChaosSettings()
    deadline = time.monotonic() + within_s
    while True:
        found = _named(_active_alerts(settings), alertname, severity)
        if found:
            after = timeline.since(settings, "fault")
            logger.info("%s fired %.0fs after the fault", alertname, after)
            return {
                "alertname": alertname,
                "seconds_after_fault": round(after, 1),
                "labels": found[0]["labels"],
            }
        if time.monotonic() > deadline:
            raise ActivityFailed(
                f"{alertname} did not fire within {within_s:.0f}s "
                f"({timeline.since(settings, 'fault'):.0f}s after the fault)"
            )
        time.sleep(POLL_S)


def alert_resolved(alertname: str, within_s: float, severity: str | None = None) -> dict[str, Any]:
    """Wait until ``alertname`` no longer notifies; how long after the repair."""
    settings = ChaosSettings()
    deadline = time.monotonic() + within_s
    while _named(_active_alerts(settings), alertname, severity):
        if time.monotonic() > deadline:
            raise ActivityFailed(
                f"{alertname} still active {within_s:.0f}s later "
                f"({timeline.since(settings, 'repair'):.0f}s after the repair)"
            )
        time.sleep(POLL_S)
    after = timeline.since(settings, "repair")
    return {"alertname": alertname, "seconds_after_repair": round(after, 1)}


def none_fired(severity: str, for_s: float = 0.0, allow: list[str] | None = None) -> dict[str, Any]:
    """No alert of ``severity`` (other than ``allow``) notifies now, nor for ``for_s``."""
    settings = ChaosSettings()
    allowed = set(allow or [])
    deadline = time.monotonic() + for_s
    while True:
        names = {
            a["labels"]["alertname"]
            for a in _active_alerts(settings)
            if a["labels"].get("severity") == severity
        } - allowed
        if names:
            raise ActivityFailed(f"{severity} alert(s) notify: {', '.join(sorted(names))}")
        if time.monotonic() >= deadline:
            return {"severity": severity, "watched_s": for_s, "fired": []}
        time.sleep(POLL_S)


def _prom_value(settings: ChaosSettings, query: str) -> float | None:
    resp = httpx.get(
        f"{settings.prometheus_url()}/api/v1/query", params={"query": query}, timeout=10
    )
    resp.raise_for_status()
    result = resp.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def caught_up(within_s: float) -> dict[str, Any]:
    """Wait until the pipeline has caught up: the processor's lag back to one trigger's worth
    (CRYPTOPIPE_CHAOS_MAX_LAG_OFFSETS) and the load's symbols fresh again (under the freshness
    SLI's 15 s; a producer cut from Kafka shows in freshness, not in lag). The recovery time
    counts from the repair."""
    settings = ChaosSettings()
    symbols = "|".join(settings.symbol_set())
    freshness = f'max(cryptopipe_processor_freshness_seconds{{symbol=~"{symbols}"}})'
    deadline = time.monotonic() + within_s
    while True:
        lag = _prom_value(settings, LAG_QUERY)
        fresh = _prom_value(settings, freshness)
        lag_ok = lag is not None and lag <= settings.chaos_max_lag_offsets
        if lag_ok and fresh is not None and fresh <= FRESH_S:
            after = timeline.since(settings, "repair")
            return {"lag_offsets": lag, "freshness_s": fresh, "recovery_s": round(after, 1)}
        if time.monotonic() > deadline:
            raise ActivityFailed(
                f"not caught up {within_s:.0f}s later: lag {lag} offsets, freshness {fresh} s"
            )
        time.sleep(POLL_S)


def audit_complete() -> dict[str, Any]:
    """The audit of the experiment's symbols after catch-up (waits up to
    CRYPTOPIPE_CHAOS_AUDIT_WAIT_S): ``ok``, trades ``missing`` and ``double_counted``.

    The load keeps flowing, so only trades older than the audit's settle time
    (CRYPTOPIPE_WATCH_SETTLE_S, as `audit --watch` does) are judged: newer ones may be in MySQL
    but not yet in the scanned topic, or the reverse. After a repair it first waits until the
    candle window of the repair is settled: trades lost during the fault leave a hole in the
    ids that only shows once the trades after it are judged."""
    from cryptopipe.audit.cli import audit_until, settled  # noqa: PLC0415
    from cryptopipe.audit.settings import AuditSettings  # noqa: PLC0415

    settings = ChaosSettings()
    base = AuditSettings(audit_symbols=settings.chaos_symbols)
    # the audit judges whole settled windows: wait until the 1m window of the repair is one
    repaired = timeline.read(settings).get("repair")
    if repaired is not None:
        judged_at = (repaired // WINDOW_S + 1) * WINDOW_S + base.watch_settle_s + 1
        time.sleep(min(max(0.0, judged_at - time.time()), 120.0))
    audit = settled(base)
    report = audit_until(audit, settings.chaos_audit_wait_s)
    return {
        "ok": report.ok,
        "missing": sum(r.missing for r in report.results if r.interval == "1m"),
        "double_counted": sum(r.double_counted for r in report.results if r.interval == "1m"),
        "problems": [p for r in report.results for p in r.problems()][:10]
        + report.rejections.problems(),
    }
