"""docker-compose.yml: valid against the Compose Specification and wired like the local stack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
# the Compose Specification's JSON schema, vendored (Apache-2.0, see compose-spec.LICENSE)
SCHEMA = ROOT / "tests" / "support" / "schemas" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_file_matches_the_compose_spec(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator(schema).validate(compose)


def test_same_topology_as_the_local_stack(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in (
        "kafka",
        "mysql",
        "prometheus",
        "alertmanager",
        "grafana",
        "otel-collector",
        "producer",
        "processor",
    ):
        assert name in services, name
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert services["mysql"]["image"].startswith("mysql:8")
    for name in ("producer", "processor", "migrate"):
        assert services[name]["build"] == "."
    assert (ROOT / "Dockerfile").exists()


def test_dependencies_wait_for_health_and_exist(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        for dep, cond in svc.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            wanted = cond["condition"]
            if wanted == "service_healthy":
                assert "healthcheck" in services[dep], f"{dep} needs a healthcheck"
    for name in (
        "kafka",
        "mysql",
        "prometheus",
        "alertmanager",
        "grafana",
        "producer",
        "processor",
    ):
        assert "healthcheck" in services[name], name


def test_mounted_config_files_exist(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_compose_prometheus_config_scrapes_the_services() -> None:
    cfg = yaml.safe_load((ROOT / "observability/compose/prometheus.yml").read_text())
    targets = {j["job_name"]: j["static_configs"][0]["targets"] for j in cfg["scrape_configs"]}
    assert targets["cryptopipe-producer"] == ["producer:9101"]
    assert targets["cryptopipe-processor"] == ["processor:9102"]
