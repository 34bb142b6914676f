"""The repo's Alertmanager config on a real Alertmanager of its own: routing by severity,
inhibition, delivery to a webhook; and `cryptopipe alerts` on it (empty and not)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import RunningStack
from tests.integration.alerts.conftest import PRIVATE_PATH, PrivateAlertmanager, cli
from tests.integration.alerts.webhook import WebhookReceiver

pytestmark = pytest.mark.prometheus


def alert(name: str, **labels: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "labels": {"alertname": name, "test": "inhibition", **labels},
        "annotations": {"summary": f"{name} test", "runbook_url": f"docs/runbooks/{name}.md"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=10)).isoformat(),
    }


def test_alerts_shows_the_empty_state(
    stack: RunningStack, private_alertmanager: PrivateAlertmanager
) -> None:
    env = {**stack.env(), "CRYPTOPIPE_ALERTMANAGER_URL": private_alertmanager.url}
    out = cli(env, "alerts")
    assert out.returncode == 0, out.stderr
    assert (
        out.stdout.strip() == f"no alerts firing (source: alertmanager {private_alertmanager.url})"
    )
    as_json = cli(env, "alerts", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == {
        "source": "alertmanager",
        "url": private_alertmanager.url,
        "note": "",
        "alerts": [],
    }


def test_routing_and_inhibition_on_a_real_alertmanager(
    stack: RunningStack, private_alertmanager: PrivateAlertmanager, receiver: WebhookReceiver
) -> None:
    freshness_page = alert(
        "CryptopipeFreshnessBudgetBurn", severity="page", slo="freshness", service="cryptopipe"
    )
    freshness_ticket = alert(
        "CryptopipeFreshnessBudgetBurn", severity="ticket", slo="freshness", service="cryptopipe"
    )
    latency_ticket = alert(
        "CryptopipeLatencyBudgetBurn", severity="ticket", slo="latency", service="cryptopipe"
    )
    ingestion_page = alert(
        "CryptopipeIngestionBudgetBurn", severity="page", slo="ingestion", service="cryptopipe"
    )
    processor_down = alert("CryptopipeTargetDown", severity="page", service="processor")
    gap_page = alert("CryptopipeUnrecoverableGap", severity="page", service="producer")
    dlq_ticket = alert("CryptopipeDLQNonEmpty", severity="ticket", service="producer")
    posted = [
        freshness_page,
        freshness_ticket,
        latency_ticket,
        ingestion_page,
        processor_down,
        gap_page,
        dlq_ticket,
    ]
    private_alertmanager.post(posted)

    def states() -> dict[tuple[str, str], str]:
        out = {}
        for a in private_alertmanager.alerts():
            status = a["status"]
            state = "inhibited" if status["inhibitedBy"] else status["state"]
            out[(a["labels"]["alertname"], a["labels"]["severity"])] = state
        return out

    deadline = time.monotonic() + 30
    got: dict[tuple[str, str], str] = {}
    while time.monotonic() < deadline:
        got = states()
        if len(got) == 7 and "unprocessed" not in got.values():
            break
        time.sleep(1)
    assert got == {
        # the page of an SLO silences its ticket; the processor being down explains its SLOs
        ("CryptopipeFreshnessBudgetBurn", "ticket"): "inhibited",
        ("CryptopipeFreshnessBudgetBurn", "page"): "inhibited",
        ("CryptopipeLatencyBudgetBurn", "ticket"): "inhibited",
        # not the processor's SLO; and alerts without an slo never inhibit each other
        ("CryptopipeIngestionBudgetBurn", "page"): "active",
        ("CryptopipeTargetDown", "page"): "active",
        ("CryptopipeUnrecoverableGap", "page"): "active",
        ("CryptopipeDLQNonEmpty", "ticket"): "active",
    }

    # `cryptopipe alerts` on the same Alertmanager names each state
    env = {**stack.env(), "CRYPTOPIPE_ALERTMANAGER_URL": private_alertmanager.url}
    listed = json.loads(cli(env, "alerts", "--json").stdout)["alerts"]
    assert {(a["name"], a["severity"]): a["state"] for a in listed} == got
    severities = [a["severity"] for a in listed]
    assert severities == sorted(severities, key=["page", "ticket"].index), "pages first"
    assert all(a["runbook"] == f"docs/runbooks/{a['name']}.md" for a in listed)
    table = cli(env, "alerts").stdout
    assert "runbook: docs/runbooks/CryptopipeTargetDown.md" in table
    assert "7 alert(s), 4 page(s)" in table

    # delivered: pages to the page receiver after 10 s, tickets to the ticket one after 1 min;
    # inhibited alerts never leave Alertmanager
    def delivered() -> dict[tuple[str, str], str]:
        return {
            (a["labels"]["alertname"], a["labels"]["severity"]): n.receiver
            for n in receiver.notifications(PRIVATE_PATH)
            for a in n.alerts()
            if a["labels"].get("test") == "inhibition"
        }

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(delivered()) < 4:
        time.sleep(2)
    time.sleep(5)
    assert delivered() == {
        ("CryptopipeIngestionBudgetBurn", "page"): "page",
        ("CryptopipeTargetDown", "page"): "page",
        ("CryptopipeUnrecoverableGap", "page"): "page",
        ("CryptopipeDLQNonEmpty", "ticket"): "ticket",
    }
    groups = {
        json.dumps(n.payload["groupLabels"], sort_keys=True)
        for n in receiver.notifications(PRIVATE_PATH)
    }
    assert (
        json.dumps(
            {
                "alertname": "CryptopipeIngestionBudgetBurn",
                "service": "cryptopipe",
                "slo": "ingestion",
            },
            sort_keys=True,
        )
        in groups
    ), "grouped by alertname, slo and service"

    # resolve them all so the Alertmanager is empty again
    now = datetime.now(UTC).isoformat()
    private_alertmanager.post([{**a, "endsAt": now} for a in posted])
