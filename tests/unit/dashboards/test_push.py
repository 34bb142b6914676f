"""`cryptopipe dashboards push` against a local server speaking Grafana's HTTP API."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cryptopipe.cli import main
from cryptopipe.dashboards.generate import DEFAULT_OUT_DIR, load_all
from tests.support.grafana_api import FakeGrafana

TOKEN = "glsa_test_token_0123456789"


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    with FakeGrafana(TOKEN) as g:
        yield g


def push(url: str, *args: str, token: str = TOKEN) -> Result:
    return CliRunner().invoke(
        main, ["dashboards", "push", "--url", url, "--token", token, *args], catch_exceptions=False
    )


def test_push_uploads_every_dashboard_into_the_folder_as_committed(grafana: FakeGrafana) -> None:
    result = push(grafana.url, "--folder", "Crypto SLOs")
    assert result.exit_code == 0, result.output
    (folder,) = grafana.folders.values()
    assert folder["title"] == "Crypto SLOs"
    committed = {name: json.loads((DEFAULT_OUT_DIR / name).read_text()) for name in load_all()}
    assert len(grafana.dashboards) == len(committed) == 3
    for name, board in committed.items():
        saved = grafana.dashboards[board["uid"]]
        assert saved["folderUid"] == folder["uid"]
        stored = {k: v for k, v in saved["dashboard"].items() if k not in ("id", "version")}
        assert stored == board, f"{name} differs from the committed file"
        assert f"/d/{board['uid']}/" in result.output
    assert TOKEN not in result.output


def test_re_push_reuses_the_folder_and_bumps_the_version(grafana: FakeGrafana) -> None:
    assert push(grafana.url).exit_code == 0
    again = push(grafana.url)
    assert again.exit_code == 0, again.output
    assert len(grafana.folders) == 1
    assert {d["dashboard"]["version"] for d in grafana.dashboards.values()} == {2}
    assert "(version 2)" in again.output


def test_re_push_without_overwrite_is_refused_with_what_to_do(grafana: FakeGrafana) -> None:
    assert push(grafana.url).exit_code == 0
    result = push(grafana.url, "--no-overwrite")
    assert result.exit_code == 1
    assert "412 version-mismatch" in result.output
    assert "--overwrite" in result.output
    assert {d["dashboard"]["version"] for d in grafana.dashboards.values()} == {1}


def test_a_bad_token_says_so_and_how_to_get_one(grafana: FakeGrafana) -> None:
    result = push(grafana.url, token="wrong")
    assert result.exit_code == 1
    assert "refused the token (401 Unauthorized)" in result.output
    assert "Service accounts" in result.output
    assert "wrong" not in result.output  # the token is never echoed
    assert grafana.dashboards == {} and grafana.folders == {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_url_nobody_listens_on_says_check_the_url() -> None:
    result = push(f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 1
    assert "cannot reach Grafana" in result.output and "check --url" in result.output


def test_a_url_that_is_not_grafana_says_so(tmp_path: Path) -> None:
    import http.server  # noqa: PLC0415
    import threading  # noqa: PLC0415

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0),
        lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path)),
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = push(f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 1
    assert "does not answer like a Grafana" in result.output
