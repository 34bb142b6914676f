"""Ask Prometheus' own parser (``promtool``) whether the specs' queries and our rules are valid.

promtool has no "parse this expression" command, so each query goes into a temporary rule file
as a recording rule in a group of its own (``q<index>``); ``promtool check rules`` reports every
rule it cannot parse with its group, which maps the error back to the spec's file and field.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from cryptopipe.slo.spec import WINDOW_RE, Query, SpecError

logger = logging.getLogger(__name__)

PROMTOOL_TIMEOUT_S = 60.0
_GROUP_ERROR = re.compile(r'group "q(\d+)", rule \d+, "[^"]*": (.*)$')


def find_promtool(explicit: str | None = None) -> str:
    found = explicit or shutil.which("promtool")
    if not found:
        raise SpecError(
            [
                "promtool not found: it checks that Prometheus can parse the queries "
                "(Debian/Ubuntu: apt-get install prometheus)"
            ]
        )
    return found


def render(query: str, window: str) -> str:
    return WINDOW_RE.sub(window, query)


def run_check(promtool: str, rule_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, "check", "rules", str(rule_file)],
        capture_output=True,
        text=True,
        timeout=PROMTOOL_TIMEOUT_S,
        check=False,
    )


def check_queries(found: Sequence[Query], promtool: str) -> None:
    """Raise :class:`SpecError` naming file and field of every query promtool cannot parse."""
    if not found:
        return
    groups = [
        {
            "name": f"q{i}",
            "rules": [{"record": f"cryptopipe_slo_check:q{i}", "expr": render(q.text, "5m")}],
        }
        for i, q in enumerate(found)
    ]
    with tempfile.TemporaryDirectory(prefix="cryptopipe-slo-") as tmp:
        path = Path(tmp) / "queries.yml"
        path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        result = run_check(promtool, path)
    if result.returncode == 0:
        return
    problems = []
    for line in (result.stdout + result.stderr).splitlines():
        match = _GROUP_ERROR.search(line)
        if match:
            q = found[int(match.group(1))]
            problems.append(f"{q.source}: {q.where}: Prometheus cannot use it: {match.group(2)}")
    if not problems:
        problems = [f"promtool check rules failed: {(result.stdout + result.stderr).strip()}"]
    raise SpecError(problems)


def check_rule_text(text: str, promtool: str) -> None:
    """Check a whole generated rule file; raise RuntimeError with promtool's output if invalid."""
    with tempfile.TemporaryDirectory(prefix="cryptopipe-slo-") as tmp:
        path = Path(tmp) / "rules.yml"
        path.write_text(text)
        result = run_check(promtool, path)
    if result.returncode != 0:
        raise RuntimeError(f"generated rules do not pass promtool: {result.stdout}{result.stderr}")
