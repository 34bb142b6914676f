"""`cryptopipe alerts`: the alerts that fire now, as a table or JSON, for people without Grafana."""

from __future__ import annotations

import json
import logging
import sys

import click

from cryptopipe.alerts.client import AlertsUnavailableError, AlertsView, Source, current_alerts
from cryptopipe.alerts.settings import AlertsSettings
from cryptopipe.cli_settings import build_settings

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE = 0, 1, 2


def render_table(view: AlertsView) -> str:
    """One line per alert, pages first; the runbook path on its own line under the alert."""
    where = f"source: {view.source} {view.url}"
    lines = [f"note: {view.note}"] if view.note else []
    if not view.alerts:
        lines.append(f"no alerts firing ({where})")
        return "\n".join(lines)
    header = ("SEVERITY", "ALERT", "SLO/SERVICE", "STATE", "SINCE", "SUMMARY")
    rows = [
        (
            a.severity or "-",
            a.name,
            "/".join(x for x in (a.slo, a.service) if x) or "-",
            a.state,
            a.since or "-",
            a.summary,
        )
        for a in view.alerts
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join([*(c.ljust(w) for c, w in zip(cells, widths, strict=False)), cells[-1]])

    lines.append(line(header))
    for alert, row in zip(view.alerts, rows, strict=True):
        lines.append(line(row))
        if alert.runbook:
            lines.append(f"{'':<{widths[0]}}  runbook: {alert.runbook}")
    pages = sum(1 for a in view.alerts if a.severity == "page")
    lines.append(f"{len(view.alerts)} alert(s), {pages} page(s) ({where})")
    return "\n".join(lines)


@click.command("alerts")
@click.option("--json", "as_json", is_flag=True, help="Print the alerts as JSON.")
@click.option(
    "--source",
    type=click.Choice(["auto", "alertmanager", "prometheus"]),
    default="auto",
    show_default=True,
    help="alertmanager: what is notified (with inhibition and silences); prometheus: also "
    "pending alerts, and works while Alertmanager is down; auto: Alertmanager, else Prometheus.",
)
def alerts(as_json: bool, source: Source) -> None:
    """List the alerts that fire now: severity, SLO/service, since when, summary, runbook.

    Reads the local stack's Alertmanager (CRYPTOPIPE_ALERTMANAGER_PORT, or
    CRYPTOPIPE_ALERTMANAGER_URL); falls back to Prometheus's /api/v1/alerts when Alertmanager
    does not answer. Exit 0 when the list could be read (empty or not), 1 when neither answered.
    """
    settings = build_settings(AlertsSettings)
    try:
        view = current_alerts(settings, source)
    except AlertsUnavailableError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(EXIT_UNAVAILABLE)
    if as_json:
        click.echo(json.dumps(view.to_json(), indent=2))
        if view.note:
            click.echo(f"note: {view.note}", err=True)
    else:
        click.echo(render_table(view))
