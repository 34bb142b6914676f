"""docker-compose.yml: valid against the Compose Specification and wired like the local stack."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from cryptopipe.stack.prometheus import (
    SERVICE_JOBS,
    render_compose_prometheus_config,
    render_prometheus_config,
)
from cryptopipe.stack.settings import StackSettings

ROOT = Path(__file__).resolve().parents[3]
# the Compose Specification's JSON schema, vendored (Apache-2.0, see compose-spec.LICENSE)
SCHEMA = ROOT / "tests" / "support" / "schemas" / "compose-spec.json"
COMPOSE_PROMETHEUS = ROOT / "observability" / "compose" / "prometheus.yml"


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


def test_compose_prometheus_config_is_the_generated_one() -> None:
    """One generator writes Prometheus' config for both deployments (regenerated, diffed)."""
    assert COMPOSE_PROMETHEUS.read_text() == render_compose_prometheus_config(), (
        "observability/compose/prometheus.yml is stale: run `python -m cryptopipe.stack.prometheus`"
    )


def test_both_deployments_scrape_every_service_and_compose_runs_each(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    local = StackSettings(state_dir=tmp_path)
    configs = {
        "compose": yaml.safe_load(COMPOSE_PROMETHEUS.read_text()),
        "local": yaml.safe_load(render_prometheus_config(local)),
    }
    for deployment, cfg in configs.items():
        jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in cfg["scrape_configs"]}
        for job, field, host in SERVICE_JOBS:
            port = getattr(local, field)
            expected = f"{host}:{port}" if deployment == "compose" else f"127.0.0.1:{port}"
            assert jobs.get(job) == [expected], (deployment, job, jobs)
            if deployment == "compose":
                service = compose["services"][host]  # e.g. the audit runs in compose too
                assert f"{port}:{port}" in service["ports"], (host, service)
                assert "healthcheck" in service, host
    assert compose["services"]["audit"]["command"][1:] == ["audit", "--watch"]


@pytest.mark.prometheus
def test_promtool_accepts_both_prometheus_configs(tmp_path: Path) -> None:
    exe = shutil.which("promtool")
    assert exe, "promtool is missing: apt-get install prometheus"
    local = tmp_path / "local.yml"
    local.write_text(render_prometheus_config(StackSettings(state_dir=tmp_path)))
    for path in (COMPOSE_PROMETHEUS, local):
        out = subprocess.run(
            [exe, "check", "config", "--syntax-only", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 0, out.stdout + out.stderr


def test_the_image_runs_the_processor_without_maven() -> None:
    """Jar resolution is the image build's job: Maven only in the build stage, the runtime
    gets Spark's Kafka source jars copied in and named by CRYPTOPIPE_SPARK_JARS."""
    text = (ROOT / "Dockerfile").read_text()
    stages = [s for s in text.split("\nFROM ")[1:]]
    assert len(stages) == 2, "a jars stage and the runtime stage"
    build, runtime = stages
    assert build.startswith("python:3.11-slim-bookworm AS jars") and "maven" in build
    assert "stack fetch --only spark-kafka" in build
    assert "maven" not in runtime and "stack fetch" not in runtime
    copied = re.search(r"COPY --from=jars /opt/spark-kafka (\S+)", runtime)
    assert copied, runtime
    assert f"CRYPTOPIPE_SPARK_JARS={copied.group(1)}" in runtime
