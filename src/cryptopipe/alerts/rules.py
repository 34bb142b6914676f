"""The alert rules of observability/rules and their runbooks (docs/runbooks/<alertname>.md).

Every alert must say how urgent it is (``severity: page|ticket``), which component it is about
(``service``) and where its runbook is (``runbook_url: docs/runbooks/<alertname>.md``, a page
that exists and has the four sections a person on call reads).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

SEVERITIES = ("page", "ticket")
RUNBOOK_DIR = "docs/runbooks"
RUNBOOK_SECTIONS = ("## What it means", "## What the user sees", "## Diagnose", "## Mitigate")


@dataclass(frozen=True, slots=True)
class AlertRule:
    name: str
    file: Path
    group: str
    expr: str
    labels: dict[str, str]
    annotations: dict[str, str]


def load_alert_rules(rules_dir: Path) -> list[AlertRule]:
    """Every ``alert:`` rule of every ``*.yml`` file in ``rules_dir``, in file order."""
    out: list[AlertRule] = []
    for path in sorted(rules_dir.glob("*.yml")):
        doc: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
        for group in doc.get("groups") or []:
            for rule in group.get("rules") or []:
                if "alert" in rule:
                    out.append(
                        AlertRule(
                            name=str(rule["alert"]),
                            file=path,
                            group=str(group.get("name", "")),
                            expr=str(rule.get("expr", "")),
                            labels={str(k): str(v) for k, v in (rule.get("labels") or {}).items()},
                            annotations={
                                str(k): str(v) for k, v in (rule.get("annotations") or {}).items()
                            },
                        )
                    )
    return out


def runbook_path(alertname: str) -> str:
    return f"{RUNBOOK_DIR}/{alertname}.md"


def rule_problems(rule: AlertRule, repo_root: Path) -> list[str]:
    """What is wrong with one alert rule's labels, runbook_url and runbook page (empty: fine)."""
    where = f"{rule.file.name}: alert {rule.name}"
    problems = []
    severity = rule.labels.get("severity")
    if severity not in SEVERITIES:
        problems.append(f"{where}: label severity is {severity!r}, want one of {SEVERITIES}")
    if "service" not in rule.labels and "label_replace" not in rule.expr:
        problems.append(f"{where}: no service label (set it, or label_replace it in the expr)")
    wanted = runbook_path(rule.name)
    url = rule.annotations.get("runbook_url")
    if url != wanted:
        problems.append(f"{where}: annotation runbook_url is {url!r}, want {wanted!r}")
    page = repo_root / wanted
    if not page.is_file():
        problems.append(f"{where}: runbook {wanted} does not exist")
    else:
        text = page.read_text()
        missing = [s for s in RUNBOOK_SECTIONS if s not in text]
        if missing:
            problems.append(f"{where}: runbook {wanted} lacks the sections {missing}")
    return problems
