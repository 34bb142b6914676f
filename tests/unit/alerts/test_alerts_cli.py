"""`cryptopipe alerts` without a stack: a clear error that says what to do next; and the
table/JSON shape of a list (the live lists are tested in tests/integration/alerts)."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from cryptopipe.alerts.cli import alerts, render_table
from cryptopipe.alerts.client import Alert, AlertsView, iso_utc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("source", ["auto", "alertmanager", "prometheus"])
def test_stack_down_is_a_clear_error_naming_the_next_step(
    monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    am, prom = free_port(), free_port()  # nothing listens there
    monkeypatch.setenv("CRYPTOPIPE_ALERTMANAGER_PORT", str(am))
    monkeypatch.setenv("CRYPTOPIPE_PROMETHEUS_PORT", str(prom))
    result = CliRunner().invoke(alerts, ["--source", source])
    assert result.exit_code == 1
    message = result.output
    assert "cannot read alerts" in message
    assert "cryptopipe stack up" in message and "cryptopipe stack status" in message
    if source != "prometheus":
        assert f"Alertmanager at http://127.0.0.1:{am}" in message
    if source != "alertmanager":
        assert f"Prometheus at http://127.0.0.1:{prom}" in message


def test_times_from_both_apis_read_as_utc_seconds() -> None:
    assert iso_utc("2026-12-01T10:51:30.123456789Z") == "2026-12-01T10:51:30Z"  # Alertmanager
    assert iso_utc("2026-12-01T11:51:30.5+01:00") == "2026-12-01T10:51:30Z"
    assert iso_utc("2026-12-01T10:50:30Z") == "2026-12-01T10:50:30Z"
    assert iso_utc("") == ""


def test_table_lists_pages_with_their_runbook_and_a_count() -> None:
    view = AlertsView(
        "prometheus",
        "http://127.0.0.1:9090",
        [
            Alert(
                "CryptopipeTargetDown",
                "page",
                "",
                "processor",
                "firing",
                "2026-12-01T10:50:30Z",
                "processor is not serving /metrics",
                "docs/runbooks/CryptopipeTargetDown.md",
                {},
            )
        ],
        note="Alertmanager did not answer",
    )
    lines = render_table(view).splitlines()
    assert lines[0] == "note: Alertmanager did not answer"
    assert lines[1].split() == ["SEVERITY", "ALERT", "SLO/SERVICE", "STATE", "SINCE", "SUMMARY"]
    assert lines[2].split()[:5] == [
        "page",
        "CryptopipeTargetDown",
        "processor",
        "firing",
        "2026-12-01T10:50:30Z",
    ]
    assert lines[3].strip() == "runbook: docs/runbooks/CryptopipeTargetDown.md"
    assert lines[4] == "1 alert(s), 1 page(s) (source: prometheus http://127.0.0.1:9090)"
