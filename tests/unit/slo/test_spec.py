"""Spec loading: Sloth prometheus/v1, OpenSLO v1 and helper recordings; clear errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cryptopipe.slo.spec import SpecError, load, load_file, queries

REPO = Path(__file__).resolve().parents[3]

SLOTH = """\
version: prometheus/v1
service: shop
labels: {{owner: team-a}}
slos:
  - name: requests-availability
    objective: {objective}
    labels: {{tier: "1"}}
    sli:
      events:
        error_query: sum(rate(http_requests_total{{code=~"5.."}}[{{{{.window}}}}]))
        total_query: {total}
    alerting:
      name: ShopAvailability
      page_alert: {{labels: {{team: a}}}}
"""


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def sloth(tmp_path: Path, objective: object = 99.9, total: str | None = None) -> Path:
    total = total or "sum(rate(http_requests_total[{{.window}}]))"
    return write(tmp_path, SLOTH.format(objective=objective, total=total))


def problems(path: Path) -> list[str]:
    with pytest.raises(SpecError) as info:
        load([path])
    return info.value.problems


def test_the_pipelines_specs_load() -> None:
    specs = load([REPO / "slo"])
    assert {s.name: s.alerting.name for s in specs.slos} == {
        "freshness": "CryptopipeFreshnessBudgetBurn",
        "latency": "CryptopipeLatencyBudgetBurn",
        "ingestion": "CryptopipeIngestionBudgetBurn",
        "input-quality": "CryptopipeInputQualityBudgetBurn",
    }
    assert all(0 < s.objective < 100 and s.period == "30d" for s in specs.slos)
    assert [h.service for h in specs.helpers] == ["cryptopipe"]
    assert specs.services() == ["cryptopipe"]


def test_a_sloth_spec_is_normalised(tmp_path: Path) -> None:
    (slo,) = load([sloth(tmp_path)]).slos
    assert slo.id == "shop-requests-availability"
    assert slo.labels == {"owner": "team-a", "tier": "1"}
    assert slo.is_events and slo.objective == 99.9
    assert slo.alerting.page.labels == {"team": "a"} and slo.alerting.ticket.enabled


def test_an_unknown_field_names_file_and_field(tmp_path: Path) -> None:
    path = sloth(tmp_path)
    path.write_text(path.read_text().replace("    objective:", "    objectiv: 1\n    objective:"))
    assert problems(path) == [f"{path}: slos[0].objectiv: unknown field"]


def test_a_query_without_the_window_placeholder_is_refused(tmp_path: Path) -> None:
    path = sloth(tmp_path, total="sum(rate(http_requests_total[5m]))")
    (problem,) = problems(path)
    assert problem.startswith(f"{path}: slos[0].sli.events.total_query: ")
    assert "{{.window}}" in problem


@pytest.mark.parametrize("objective", [0, -1, 100.5, 250])
def test_an_objective_outside_0_100_is_refused(tmp_path: Path, objective: float) -> None:
    (problem,) = problems(sloth(tmp_path, objective))
    assert "slos[0].objective" in problem and "outside (0, 100)" in problem


def test_objective_100_is_refused_with_the_reason(tmp_path: Path) -> None:
    (problem,) = problems(sloth(tmp_path, 100))
    assert "slos[0].objective" in problem and "no error budget" in problem


def test_events_and_raw_together_are_refused(tmp_path: Path) -> None:
    path = sloth(tmp_path)
    text = path.read_text().replace(
        "    alerting:",
        "      raw: {error_ratio_query: 'x[{{.window}}]'}\n    alerting:",
    )
    path.write_text(text)
    assert any("slos[0].sli: give exactly one" in p for p in problems(path))


def test_unknown_spec_versions_and_bad_yaml_are_named(tmp_path: Path) -> None:
    path = write(tmp_path, "version: sloth/v9\nservice: x\n")
    assert "version: 'sloth/v9' is not a known spec" in problems(path)[0]
    broken = write(tmp_path, "slos: [\n", "broken.yaml")
    assert problems(broken)[0].startswith(f"{broken}: not valid YAML")


def test_problems_of_every_file_are_reported_together(tmp_path: Path) -> None:
    sloth(tmp_path, 100)
    write(tmp_path, "version: prometheus/v1\nservice: y\nslos: []\n", "other.yaml")
    found = problems(tmp_path)
    assert len(found) == 2 and any("other.yaml: slos:" in p for p in found)


def test_the_same_slo_twice_is_refused(tmp_path: Path) -> None:
    sloth(tmp_path)
    (tmp_path / "copy.yaml").write_text((tmp_path / "spec.yaml").read_text())
    assert any("is also in" in p for p in problems(tmp_path))


OPENSLO = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-latency
  labels: {team: payments}
spec:
  service: shop
  description: Checkouts answered in 300 ms
  budgetingMethod: Occurrences
  timeWindow:
    - duration: 28d
      isRolling: true
  objectives:
    - target: 0.995
  indicator:
    metadata: {name: checkout-latency}
    spec:
      ratioMetric:
        counter: true
        GOODBAD:
          metricSource:
            type: Prometheus
            spec:
              query: sum(rate(checkout_seconds_bucket{le="0.3"}[{{.window}}]))
        total:
          metricSource:
            type: Prometheus
            spec:
              query: sum(rate(checkout_seconds_count[{{.window}}]))
"""


def test_openslo_good_over_total(tmp_path: Path) -> None:
    (slo,) = load_file(write(tmp_path, OPENSLO.replace("GOODBAD", "good"))).slos
    assert slo.service == "shop" and slo.name == "checkout-latency"
    assert slo.objective == pytest.approx(99.5) and slo.period == "28d"
    assert slo.spec_format == "openslo/v1" and slo.labels == {"team": "payments"}
    assert slo.error_query == (
        "(sum(rate(checkout_seconds_count[{{.window}}]))) - "
        '(sum(rate(checkout_seconds_bucket{le="0.3"}[{{.window}}])))'
    )
    assert slo.alerting.name == "ShopCheckoutLatencyBudgetBurn"
    wheres = [q.where for q in queries(load([tmp_path]))]
    assert wheres == [
        "spec.indicator.spec.ratioMetric.good.metricSource.spec.query",
        "spec.indicator.spec.ratioMetric.total.metricSource.spec.query",
    ]


def test_openslo_bad_over_total(tmp_path: Path) -> None:
    (slo,) = load_file(write(tmp_path, OPENSLO.replace("GOODBAD", "bad"))).slos
    assert slo.error_query == 'sum(rate(checkout_seconds_bucket{le="0.3"}[{{.window}}]))'


def test_openslo_errors_name_the_field(tmp_path: Path) -> None:
    text = OPENSLO.replace("GOODBAD", "good").replace("duration: 28d", "duration: 90d")
    text = text.replace("target: 0.995", "target: 1")
    found = problems(write(tmp_path, text))
    assert any("spec.timeWindow[0].duration: period '90d' is not supported" in p for p in found)
    assert any("spec.objectives[0]: objective 100 leaves no error budget" in p for p in found)
    unknown = OPENSLO.replace("GOODBAD", "good").replace(
        "counter: true", "counter: true\n        ratio: 1"
    )
    (problem,) = problems(write(tmp_path, unknown, "unknown.yaml"))
    assert "spec.indicator.spec.ratioMetric.ratio: unknown field" in problem


def test_helper_recordings_are_validated(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: cryptopipe/v1
        kind: RecordingRules
        service: shop
        groups:
          - name: helpers
            rules:
              - record: "not a name"
                expr: up
        """,
    )
    assert "groups[0].rules[0].record: 'not a name' is not a valid metric name" in problems(path)[0]
