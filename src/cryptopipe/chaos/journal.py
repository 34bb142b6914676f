"""Chaos Toolkit journals read into one summary row per experiment (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Summary:
    experiment: str
    status: str  # Chaos Toolkit's: completed, failed, aborted, interrupted
    deviated: bool
    alert: str  # "<name> after <s>s", or "-"
    recovery_s: float | None
    lost: int | None  # from the audit after catch-up; None: the audit did not run
    double_counted: int | None
    failures: list[str]
    # Chaos Toolkit 1.19 reports "completed" even when the hypothesis failed before the method
    # (the method is then skipped): both checks must have been met
    steady_before: bool = False
    steady_after: bool = False

    @property
    def ok(self) -> bool:
        return (
            self.status == "completed"
            and not self.deviated
            and self.steady_before
            and self.steady_after
            and not self.failures  # a failed method activity leaves the status "completed"
            and not self.lost
            and not self.double_counted
        )

    def row(self) -> list[str]:
        def num(v: float | int | None) -> str:
            return "-" if v is None else f"{v:g}"

        status = self.status
        if status == "completed" and not (self.steady_before and self.steady_after):
            status = "not steady"
        return [
            self.experiment,
            status,
            "yes" if self.deviated else "no",
            self.alert,
            num(self.recovery_s),
            num(self.lost),
            num(self.double_counted),
        ]


HEADER = ["EXPERIMENT", "STATUS", "DEVIATED", "ALERT FIRED", "RECOVERY S", "LOST", "DOUBLE"]


def _outputs(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["output"] for e in entries if isinstance(e.get("output"), dict)]


def summarize(name: str, journal: dict[str, Any]) -> Summary:
    runs: list[dict[str, Any]] = journal.get("run") or []
    after = (journal.get("steady_states") or {}).get("after") or {}
    before = (journal.get("steady_states") or {}).get("before") or {}
    outputs = _outputs(runs)
    fired = [o for o in outputs if "seconds_after_fault" in o]
    alert = ", ".join(f"{o['alertname']} after {o['seconds_after_fault']:g}s" for o in fired)
    recovery = [o["recovery_s"] for o in outputs if "recovery_s" in o]
    audits = [o for o in _outputs(after.get("probes") or []) if "double_counted" in o]
    failures = [
        f"{e['activity'].get('name', '?')}: {e.get('exception', [''])[-1].strip()}"
        for e in [*runs, *(before.get("probes") or []), *(after.get("probes") or [])]
        if e.get("status") == "failed"
    ]
    failures += [
        f"steady state {when}: {p['activity'].get('name', '?')} out of tolerance"
        for when, state in (("before", before), ("after", after))
        for p in state.get("probes") or []
        if p.get("tolerance_met") is False
    ]
    return Summary(
        steady_before=bool(before.get("steady_state_met")),
        steady_after=bool(after.get("steady_state_met")),
        experiment=name,
        status=str(journal.get("status", "unknown")),
        deviated=bool(journal.get("deviated", False)),
        alert=alert or "-",
        recovery_s=recovery[-1] if recovery else None,
        lost=audits[-1]["missing"] if audits else None,
        double_counted=audits[-1]["double_counted"] if audits else None,
        failures=failures,
    )


def read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def table(rows: list[Summary]) -> str:
    cells = [HEADER, *(r.row() for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    for r in rows:
        lines += [f"  {r.experiment}: {f}" for f in r.failures]
    return "\n".join(lines)
