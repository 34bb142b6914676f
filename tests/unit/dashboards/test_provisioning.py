"""docker-compose's Grafana provisions the generated dashboards, the two datasources their
variables default to (Prometheus and MySQL, the latter as the SELECT-only user) and the trace
datasource the exemplars link to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cryptopipe.dashboards.generate import BOARDS, load_all
from cryptopipe.db.cli import MigrateSettings
from cryptopipe.observability.tracing import EXEMPLAR_TRACE_LABEL

REPO = Path(__file__).resolve().parents[3]
GRAFANA = REPO / "observability" / "compose" / "grafana"


def grafana_service() -> dict[str, Any]:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    service: dict[str, Any] = compose["services"]["grafana"]
    return service


def test_the_dashboards_folder_is_where_the_provider_reads() -> None:
    providers = yaml.safe_load((GRAFANA / "dashboards.yml").read_text())["providers"]
    (provider,) = providers
    mounts = dict(v.split(":")[:2] for v in grafana_service()["volumes"])
    assert mounts["./dashboards"] == provider["options"]["path"]
    assert all((REPO / "dashboards" / name).exists() for name in BOARDS)


def test_the_datasources_the_variables_default_to_are_provisioned() -> None:
    provisioned = yaml.safe_load((GRAFANA / "datasources.yml").read_text())["datasources"]
    by_uid = {d["uid"]: d for d in provisioned}
    for board in load_all().values():
        for v in board["templating"]["list"]:
            if v["type"] == "datasource":
                ds = by_uid[v["current"]["value"]]
                assert ds["type"] == v["query"]
    mysql = by_uid["mysql"]
    assert mysql["jsonData"]["database"] == "cryptopipe"
    assert mysql["jsonData"]["timezone"] == "+00:00"  # the macros' FROM_UNIXTIME() is UTC
    # the password comes from the environment Grafana gets, never from the file
    password = mysql["secureJsonData"]["password"]
    assert password.startswith("$")
    assert password.lstrip("$").strip("{}") in grafana_service()["environment"]
    assert "mysql" in grafana_service()["depends_on"]


def test_exemplars_link_to_the_trace_backend_the_collector_exports_to() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    provisioned = yaml.safe_load((GRAFANA / "datasources.yml").read_text())["datasources"]
    by_uid = {d["uid"]: d for d in provisioned}
    (link,) = by_uid["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert link["name"] == EXEMPLAR_TRACE_LABEL  # the label our histograms' exemplars carry
    traces = by_uid[link["datasourceUid"]]
    assert traces["type"] == "jaeger"
    host, port = traces["url"].removeprefix("http://").split(":")
    assert host in compose["services"] and f"{port}:{port}" in compose["services"][host]["ports"]
    # the collector exports every trace to that backend's OTLP receiver
    collector = yaml.safe_load((REPO / "observability/compose/otel-collector.yml").read_text())
    exporters = collector["service"]["pipelines"]["traces"]["exporters"]
    endpoints = [collector["exporters"][e].get("endpoint", "") for e in exporters]
    assert f"{host}:4317" in endpoints
    assert compose["services"][host]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    assert host in grafana_service()["depends_on"]


def test_the_mysql_datasource_logs_in_as_the_select_only_user() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    provisioned = yaml.safe_load((GRAFANA / "datasources.yml").read_text())["datasources"]
    mysql = {d["uid"]: d for d in provisioned}["mysql"]
    assert mysql["user"] == MigrateSettings().mysql_reader_user != "cryptopipe"
    migrate = compose["services"]["migrate"]
    assert "--create-reader-user" in migrate["command"]
    # Grafana and the migration get the same password variable
    variable = mysql["secureJsonData"]["password"].lstrip("$")
    assert variable in grafana_service()["environment"]
    assert grafana_service()["environment"][variable] == migrate["environment"][variable]
    assert "migrate" in grafana_service()["depends_on"]
