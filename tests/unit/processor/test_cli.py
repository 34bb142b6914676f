from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cryptopipe.processor import cli


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from cryptopipe.processor import job  # noqa: PLC0415 (the module the command loads lazily)

    seen: dict[str, Any] = {}

    def fake_run(settings: Any, stop: Any = None, tracer: Any = None) -> None:
        seen["settings"] = settings

    monkeypatch.setattr(job, "run", fake_run)
    return seen


def test_options_and_env_vars_reach_the_settings(captured: dict[str, Any], tmp_path: Path) -> None:
    env = {
        "CRYPTOPIPE_STATE_DIR": str(tmp_path),
        "CRYPTOPIPE_AVAILABLE_NOW": "true",
        "CRYPTOPIPE_INTERVALS": "1m,1h",
    }
    result = CliRunner().invoke(
        cli.process, ["--trigger-interval", "2.5", "--master", "local[4]"], env=env
    )
    assert result.exit_code == 0, result.output
    s = captured["settings"]
    assert s.available_now is True
    assert s.trigger_interval_s == 2.5
    assert s.spark_master == "local[4]"
    assert [i.label for i in s.interval_list()] == ["1m", "1h"]
    assert s.resolved_checkpoint_dir() == str(tmp_path / "spark" / "checkpoints" / "candles")


def test_bad_settings_exit_with_a_clear_message(captured: dict[str, Any]) -> None:
    result = CliRunner().invoke(cli.process, ["--intervals", "7s"])
    assert result.exit_code == cli.EXIT_CONFIG
    assert "must divide a day" in result.output
    assert "settings" not in captured
