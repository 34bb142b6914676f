"""results.json -> results.md, the plots, and the e2e points read from loadtest verdicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cryptopipe.bench import plots, report
from cryptopipe.bench.e2e import point_from_verdict, result_of
from cryptopipe.bench.machine import cpu_model, memory_gib, pom_property
from cryptopipe.bench.model import OURS, Figure, SystemResult, ratio_to_ours

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def system(name: str, rate: float | None, correct: bool | None = True, **kw: Any) -> SystemResult:
    return SystemResult(
        stage=kw.pop("stage", "processor"),
        system=name,
        description=f"{name} doing it",
        trades=1000,
        seconds=None if rate is None else 1000 / rate,
        trades_per_s=rate,
        correct=correct,
        **kw,
    )


def results_of(systems: list[SystemResult]) -> dict[str, Any]:
    return report.assemble(
        command="cryptopipe bench all --quick",
        quick=True,
        started_at="2026-12-01 10:00:00 UTC",
        finished_at="2026-12-01 10:02:00 UTC",
        duration_s=120.0,
        commit="abc1234",
        machine={
            "cpu_model": "Test CPU",
            "cores": 2,
            "memory_gib": 23.5,
            "os": "Linux",
            "load_average_before": [0.1, 0.2, 0.3],
            "load_average_after": [1.0, 0.5, 0.3],
            "versions": {"python": "3.11.7", "kafka": "4.1.1", "kcat": None},
        },
        data={"processor": "1,000 trades of 5 symbols"},
        results=systems,
        plots={},
    )


def test_ratios_are_to_ours_and_missing_when_a_system_did_not_run() -> None:
    ratios = ratio_to_ours(
        [system(OURS, 1000.0), system("fast", 3000.0), system("gone", None, error="missing")]
    )
    assert ratios == {OURS: 1.0, "fast": 3.0, "gone": None}
    assert ratio_to_ours([system("fast", 3000.0)]) == {"fast": None}  # no ours: no ratio


def test_the_page_says_which_answers_are_wrong_and_why_a_peer_did_not_run() -> None:
    md = report.render_markdown(
        results_of(
            [
                system(OURS, 1000.0, figures=[Figure("sustained", 1200.0, "trades/s")]),
                system("naive spark", 5000.0, correct=False, notes=["12 of 40 candles differ"]),
                system("kcat", None, correct=None, error="kcat not on PATH: apt-get install kcat"),
            ]
        )
    )
    assert "| **cryptopipe** | 1,000 | 1.00x | yes |" in md
    assert "| naive spark | 5,000 | 5.00x | **NO** |" in md
    assert "failed: kcat not on PATH: apt-get install kcat" in md
    assert "sustained: 1,200 trades/s" in md and "12 of 40 candles differ" in md
    assert "Test CPU, 2 cores, 23.5 GiB" in md and "before [0.1, 0.2, 0.3]" in md
    assert "kcat" not in md.split("Versions:")[1].split("\n")[0]  # no version: not listed
    assert "Data: 1,000 trades of 5 symbols." in md


def test_e2e_points_come_from_the_loadtest_verdicts() -> None:
    verdict = {
        "ok": False,
        "run": {"duration_s": 10.0},
        "trades_sent": 4_500,
        "processor_e2e_histogram_s": {"p50": 0.8, "p95": 1.4, "p99": None},
        "peak_lag": 3000.0,
        "audit": {"complete": True},
    }
    point = point_from_verdict(500.0, verdict)
    assert (point.achieved_rate, point.p50_s, point.p99_s, point.held) == (450.0, 0.8, None, False)
    held = point_from_verdict(5000.0, {**verdict, "ok": True, "trades_sent": 49_000})
    quick = result_of([point, held], None, "10s")
    assert quick.trades_per_s == 4900.0  # no ceiling measured: the highest rate that held
    assert quick.correct is True and quick.trades == 53_500
    full = result_of([point, held], {"trades_per_s": 32_000, "limited_by": "lag"}, "60s")
    assert full.trades_per_s == 32_000 and full.figure("ceiling") == Figure(
        "ceiling", 32_000.0, "trades/s"
    )
    lost = point_from_verdict(500.0, {**verdict, "audit": {"complete": False}})
    assert result_of([lost], None, "10s").correct is False


def test_plots_are_pngs_of_every_stage_that_ran(tmp_path: Path) -> None:
    e2e = result_of(
        [
            point_from_verdict(
                r,
                {
                    "ok": True,
                    "run": {"duration_s": 10.0},
                    "trades_sent": int(r * 10),
                    "processor_e2e_histogram_s": {"p50": 0.5, "p95": 0.9, "p99": 1.2},
                    "audit": {"complete": True},
                },
            )
            for r in (500.0, 5000.0)
        ],
        None,
        "10s",
    )
    results = results_of([system(OURS, 1000.0), system("peer", 2000.0, correct=False), e2e])
    made = plots.draw(results, tmp_path)
    assert made == {"processor": "processor.png", "e2e": "e2e.png"}
    for name in made.values():
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize(
    ("text", "expected"),
    [("processor\t: 0\nmodel name\t: Intel(R) Xeon(R)\n", "Intel(R) Xeon(R)"), ("", None)],
)
def test_machine_facts_parse_proc(text: str, expected: str | None) -> None:
    model = cpu_model(text)
    assert model == expected if expected else isinstance(model, str)
    assert memory_gib("MemTotal:       24641536 kB\n") == 23.5
    assert pom_property("<p><kafka.version>4.1.1</kafka.version></p>", "kafka.version") == "4.1.1"


DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_docs_benchmarks_is_the_page_of_its_committed_results() -> None:
    """docs/benchmarks.md is generated by `cryptopipe bench all --docs docs/benchmarks.md`:
    regenerated here from docs/benchmarks/results.json, it must come out the same, and every
    plot it shows is beside it."""
    results = json.loads((DOCS / "benchmarks" / report.RESULTS_JSON).read_text())
    page = (DOCS / "benchmarks.md").read_text()
    assert page == report.render_docs(results, "benchmarks/"), (
        "docs/benchmarks.md is stale or edited by hand: re-run the bench command with --docs"
    )
    assert page.startswith(report.DOCS_HEADER)
    assert set(results["stages"]) == {"producer", "processor", "e2e"}
    for name in results["plots"].values():
        assert (DOCS / "benchmarks" / name).read_bytes()[:8] == PNG_MAGIC, name
