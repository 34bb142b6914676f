"""Every page and ticket alert of the pipeline's SLOs, proven with promtool on the generated rules.

For each SLO (driven through its real input metrics) and each scenario, the independent model in
burn_model.py says when the page and the ticket fire; promtool running
observability/rules/slo-cryptopipe.yml must agree at every checked evaluation, and the model's
timeline must meet the SRE Workbook's claims:
- page: a burn of 2x the page factor (or a full outage) fires within the Workbook's detection
  time (long window x factor / burn), and resolves within the short window's reset after recovery;
- ticket: a 4.5x burn fires within 1d x 3 / 4.5 = 16 h, never pages, and resolves after recovery;
- a burn that spends less than its budget (0.9x for a day, or a 10x spike for 30 minutes) fires
  nothing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cryptopipe.slo.generate import PAGE_WINDOWS, TICKET_WINDOWS
from tests.integration.slo.burn_model import DRIVES, Drive, Model, Phase, fractions, promtool_test

pytestmark = pytest.mark.prometheus

RULES = Path(__file__).resolve().parents[3] / "observability" / "rules" / "slo-cryptopipe.yml"
PROMTOOL = shutil.which("promtool")


def rules_of(slo: str, tmp_path: Path) -> Path:
    """The generated file's groups for one SLO (and the helper recordings), unchanged: promtool
    then evaluates only what the scenario drives, which keeps multi-day scenarios affordable."""
    doc = yaml.safe_load(RULES.read_text())
    suffix = f"-cryptopipe-{slo}"
    keep = [
        g
        for g in doc["groups"]
        if g["name"].endswith(suffix) or g["name"].startswith("cryptopipe-")
    ]
    assert len(keep) == 4, [g["name"] for g in keep]
    out = tmp_path / f"slo-cryptopipe-{slo}.yml"
    out.write_text(yaml.safe_dump({"groups": keep}, sort_keys=False))
    return out


def run_promtool(doc: dict[str, object], tmp_path: Path) -> None:
    assert PROMTOOL, "promtool is required (Debian: apt-get install prometheus)"
    test_file = tmp_path / "scenario.test.yml"
    test_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = subprocess.run(
        [PROMTOOL, "test", "rules", str(test_file)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def _page_burn(drive: Drive) -> float:
    """2x the fast page factor, or a full outage for a time slice (a slice is all or nothing)."""
    return 1 / drive.budget if drive.time_slice else 2 * PAGE_WINDOWS[0].factor


@pytest.mark.parametrize("slo", sorted(DRIVES))
def test_page_fires_within_detection_time_and_resolves(slo: str, tmp_path: Path) -> None:
    drive = DRIVES[slo]
    burn = _page_burn(drive)
    clean, burning, after = 120, 60, 60
    model = Model(drive, fractions(drive, [Phase(clean, 0), Phase(burning, burn), Phase(after, 0)]))
    start, stop, end = clean, clean + burning, clean + burning + after
    fast = PAGE_WINDOWS[0]
    detection = 60 * fast.factor / burn  # minutes: long window x factor / burn rate
    fired = model.first_firing("page", start, stop)
    assert fired is not None and fired - start <= detection + 2, (fired, detection)
    assert not any(model.fires(t, "page") for t in range(0, start + 1))
    resolved = next(t for t in range(stop, end + 1) if not model.fires(t, "page"))
    assert resolved - stop <= 30 + 2, "page resolves within the slow page's short window (30m)"
    print(
        f"{slo}: {burn:g}x page after {fired - start} min (Workbook {detection:.1f}), "
        f"resolved {resolved - stop} min after recovery"
    )
    doc, checked = promtool_test(
        rules_of(slo, tmp_path), drive, model, [*range(0, end + 1, 2), fired, resolved], 1
    )
    assert checked > 50
    run_promtool(doc, tmp_path)


@pytest.mark.parametrize("slo", sorted(DRIVES))
def test_ticket_fires_within_detection_time_never_pages_and_resolves(
    slo: str, tmp_path: Path
) -> None:
    drive = DRIVES[slo]
    burn = 4.5
    clean, burning, after = 360, 1080, 360
    model = Model(drive, fractions(drive, [Phase(clean, 0), Phase(burning, burn), Phase(after, 0)]))
    start, stop, end = clean, clean + burning, clean + burning + after
    detection = 1440 * TICKET_WINDOWS[0].factor / burn  # 16 h
    fired = model.first_firing("ticket", start, stop)
    assert fired is not None and fired - start <= detection + 2, (fired, detection)
    assert not any(model.fires(t, "page") for t in range(0, end + 1))
    resolved = next(t for t in range(stop, end + 1) if not model.fires(t, "ticket"))
    assert resolved - stop <= 360, "ticket resolves within the slow ticket's short window (6h)"
    print(
        f"{slo}: {burn:g}x ticket after {fired - start} min (Workbook {detection:.0f}), "
        f"resolved {resolved - stop} min after recovery"
    )
    step = 1 if drive.time_slice else 5
    checks = [*range(0, end + 1, 20), fired, resolved, resolved - step]
    doc, checked = promtool_test(rules_of(slo, tmp_path), drive, model, checks, step)
    assert checked > 50
    run_promtool(doc, tmp_path)


@pytest.mark.parametrize("slo", sorted(DRIVES))
def test_burns_below_budget_stay_quiet(slo: str, tmp_path: Path) -> None:
    """0.9x for a day, then after 6 clean hours a 10x spike of 30 minutes: nothing fires."""
    drive = DRIVES[slo]
    phases = [Phase(1440, 0.9), Phase(360, 0), Phase(30, 10), Phase(90, 0)]
    model = Model(drive, fractions(drive, phases))
    end = sum(p.minutes for p in phases)
    assert not any(model.fires(t, s) for t in range(end + 1) for s in ("page", "ticket"))
    step = 1 if drive.time_slice else 5
    doc, checked = promtool_test(
        rules_of(slo, tmp_path), drive, model, list(range(0, end + 1, 10)), step
    )
    assert checked > 50
    run_promtool(doc, tmp_path)


@pytest.mark.parametrize("slo", [s for s in sorted(DRIVES) if not DRIVES[s].time_slice])
def test_ticket_with_full_history_fires_at_the_workbooks_time(slo: str, tmp_path: Path) -> None:
    """With 3 clean days before the 4.5x burn, every window is full: both ticket legs reach
    their threshold at 16 h (1d x 3 / 4.5 = 3d x 1 / 4.5), not before."""
    drive = DRIVES[slo]
    clean, burning, after = 4320, 1080, 60
    model = Model(drive, fractions(drive, [Phase(clean, 0), Phase(burning, 4.5), Phase(after, 0)]))
    start, end = clean, clean + burning + after
    detection = 1440 * TICKET_WINDOWS[0].factor / 4.5
    fired = model.first_firing("ticket", start, end)
    assert fired is not None
    assert detection - 2 <= fired - start <= detection + 2, fired - start
    assert not any(model.fires(t, "page") for t in range(end + 1))
    checks = [*range(start, end + 1, 20), fired - 5, fired, fired + 5]
    doc, checked = promtool_test(rules_of(slo, tmp_path), drive, model, checks, 5)
    assert checked > 50
    run_promtool(doc, tmp_path)
