"""The summary row a Chaos Toolkit journal gives (journals shaped as chaostoolkit-lib 1.44
writes them)."""

from __future__ import annotations

from typing import Any

from cryptopipe.chaos.journal import summarize, table


def _journal(**over: Any) -> dict[str, Any]:
    audit = {"ok": True, "missing": 0, "double_counted": 0, "problems": []}
    base: dict[str, Any] = {
        "status": "completed",
        "deviated": False,
        "steady_states": {
            "before": {"steady_state_met": True, "probes": []},
            "after": {
                "steady_state_met": True,
                "probes": [
                    {
                        "activity": {"name": "audit-complete"},
                        "status": "succeeded",
                        "output": audit,
                        "tolerance_met": True,
                    }
                ],
            },
        },
        "run": [
            {"activity": {"name": "kill-9-processor"}, "status": "succeeded", "output": {}},
            {
                "activity": {"name": "target-down-pages"},
                "status": "succeeded",
                "output": {"alertname": "CryptopipeTargetDown", "seconds_after_fault": 92.4},
            },
            {
                "activity": {"name": "caught-up"},
                "status": "succeeded",
                "output": {"lag_offsets": 10.0, "freshness_s": 2.1, "recovery_s": 41.5},
            },
        ],
    }
    base.update(over)
    return base


def test_a_clean_run_names_the_alert_and_the_recovery() -> None:
    row = summarize("processor-kill", _journal())
    assert row.ok
    assert row.row() == [
        "processor-kill",
        "completed",
        "no",
        "CryptopipeTargetDown after 92.4s",
        "41.5",
        "0",
        "0",
    ]
    assert "processor-kill" in table([row])


def test_a_deviation_or_a_lost_trade_is_not_ok_and_says_why() -> None:
    failed = _journal(status="failed", deviated=True)
    failed["run"][1] = {
        "activity": {"name": "target-down-pages"},
        "status": "failed",
        "exception": ["Traceback ...", "ActivityFailed: CryptopipeTargetDown did not fire\n"],
    }
    row = summarize("processor-kill", failed)
    assert not row.ok and row.alert == "-"
    assert row.failures == ["target-down-pages: ActivityFailed: CryptopipeTargetDown did not fire"]

    lost = _journal()
    probe = lost["steady_states"]["after"]["probes"][0]
    probe["output"] = {"ok": False, "missing": 3, "double_counted": 1, "problems": []}
    probe["tolerance_met"] = False
    row = summarize("processor-kill", lost)
    assert not row.ok and (row.lost, row.double_counted) == (3, 1)
    assert "steady state after: audit-complete out of tolerance" in row.failures


def test_a_hypothesis_unmet_before_the_method_is_not_ok_though_chaos_says_completed() -> None:
    journal = _journal(run=[])
    journal["steady_states"] = {
        "before": {
            "steady_state_met": False,
            "probes": [
                {
                    "activity": {"name": "no-page-notifies"},
                    "status": "succeeded",
                    "output": ["CryptopipeFreshnessBudgetBurn"],
                    "tolerance_met": False,
                }
            ],
        },
        "after": None,
    }
    row = summarize("kafka-partition", journal)
    assert not row.ok and row.row()[1] == "not steady"
    assert row.failures == ["steady state before: no-page-notifies out of tolerance"]
