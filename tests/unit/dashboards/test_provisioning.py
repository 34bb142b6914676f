"""docker-compose's Grafana provisions the generated dashboards and the two datasources their
variables default to (Prometheus and MySQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cryptopipe.dashboards.generate import BOARDS, load_all

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
