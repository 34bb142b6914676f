"""Every alert rule in observability/rules: valid for promtool, labelled, with a runbook page;
and the hand-written pipeline-health alerts fire (and stay quiet) as designed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from cryptopipe.alerts.rules import (
    RUNBOOK_SECTIONS,
    AlertRule,
    load_alert_rules,
    rule_problems,
)

ROOT = Path(__file__).resolve().parents[3]
RULES_DIR = ROOT / "observability" / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
ALERTS = load_alert_rules(RULES_DIR)
HERE = Path(__file__).parent

pytestmark = pytest.mark.prometheus


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    assert exe, "promtool is missing: apt-get install prometheus"
    return subprocess.run(
        [exe, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("path", RULE_FILES, ids=[p.name for p in RULE_FILES])
def test_promtool_accepts_every_rule_file(path: Path) -> None:
    out = promtool("check", "rules", path)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_repo_has_the_hand_written_alerts() -> None:
    names = {a.name for a in ALERTS}
    for wanted in (
        "CryptopipeTargetDown",
        "CryptopipeFreshnessAbsent",
        "CryptopipeLatencyAbsent",
        "CryptopipeProducerSLIAbsent",
        "CryptopipeProducerDisconnected",
        "CryptopipeUnrecoverableGap",
        "CryptopipeDLQNonEmpty",
        "CryptopipeTradesMissing",
        "CryptopipeTradesDoubleCounted",
        "CryptopipeTopicIdsMissing",
        "CryptopipeAuditStale",
    ):
        assert wanted in names


@pytest.mark.parametrize("rule", ALERTS, ids=[f"{a.file.name}:{a.name}" for a in ALERTS])
def test_every_alert_has_severity_service_and_its_runbook_page(rule: AlertRule) -> None:
    assert rule_problems(rule, ROOT) == []


def test_an_alert_without_a_runbook_is_caught(tmp_path: Path) -> None:
    rules = tmp_path / "observability" / "rules"
    rules.mkdir(parents=True)
    (rules / "new.yml").write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "g",
                        "rules": [
                            {"alert": "BrandNew", "expr": "up == 0", "labels": {"service": "x"}},
                            {
                                "alert": "Documented",
                                "expr": "up == 0",
                                "labels": {"severity": "page", "service": "x"},
                                "annotations": {"runbook_url": "docs/runbooks/Documented.md"},
                            },
                        ],
                    }
                ]
            }
        )
    )
    (tmp_path / "docs" / "runbooks").mkdir(parents=True)
    (tmp_path / "docs" / "runbooks" / "Documented.md").write_text("## What it means\n")
    found = {r.name: rule_problems(r, tmp_path) for r in load_alert_rules(rules)}
    assert any("severity" in p for p in found["BrandNew"])
    assert any("runbook_url" in p for p in found["BrandNew"])
    assert any("does not exist" in p for p in found["BrandNew"])
    assert found["Documented"] == [
        f"new.yml: alert Documented: runbook docs/runbooks/Documented.md lacks the sections "
        f"{list(RUNBOOK_SECTIONS[1:])}"
    ]


def _without_annotations(doc: dict[str, Any]) -> dict[str, Any]:
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    return doc


def test_pipeline_health_alerts_fire_and_stay_quiet_as_designed(tmp_path: Path) -> None:
    """promtool test rules on the real file (annotations stripped: promtool compares them
    verbatim, and their templates are checked by `promtool check rules` above)."""
    doc = yaml.safe_load((RULES_DIR / "pipeline-health.yml").read_text())
    (tmp_path / "pipeline-health.yml").write_text(yaml.safe_dump(_without_annotations(doc)))
    shutil.copy(HERE / "pipeline-health.test.yml", tmp_path / "pipeline-health.test.yml")
    out = promtool("test", "rules", tmp_path / "pipeline-health.test.yml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout + out.stderr
