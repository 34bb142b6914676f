"""The repo's Alertmanager config on a real Alertmanager of its own: `cryptopipe alerts` on it
while empty. Its routing by severity, inhibition and delivery to a webhook (and `cryptopipe
alerts` on it when not empty) run in test_alerts_fire_live.py, as a scenario beside the live
faults: its minute of waiting for the ticket's group_wait costs no time of its own there."""

from __future__ import annotations

import json

import pytest

from tests.conftest import RunningStack
from tests.integration.alerts.conftest import PrivateAlertmanager, cli

pytestmark = pytest.mark.prometheus


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
