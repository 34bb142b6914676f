"""Every command turns its options and CRYPTOPIPE_* variables into settings the same way: bad
settings are a clear message and exit 2, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic_settings import BaseSettings, SettingsConfigDict

from cryptopipe.cli import main
from cryptopipe.cli_settings import EXIT_CONFIG, build_settings, given

BAD_PORT = {"CRYPTOPIPE_MYSQL_PORT": "not-a-port"}


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["stack", "status"], BAD_PORT),
        (["produce"], BAD_PORT),
        (["process"], BAD_PORT),
        (["audit"], BAD_PORT),
        (["db", "migrate"], BAD_PORT),
        (["report"], BAD_PORT),
        (["alerts"], BAD_PORT),
        (["chaos", "list"], BAD_PORT),
        (["run"], BAD_PORT),
        (["slo", "validate"], {"CRYPTOPIPE_SLO_PERIOD": "1y"}),
        (["slo", "status"], {"CRYPTOPIPE_PROMETHEUS_PORT": "x"}),
        (["loadtest"], {"CRYPTOPIPE_LOADTEST_RATE": "-1"}),
        (["loadtest"], BAD_PORT),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_bad_settings_exit_2_with_the_reason(
    args: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    result = CliRunner().invoke(main, args, env={"CRYPTOPIPE_STATE_DIR": str(tmp_path), **env})
    assert result.exit_code == EXIT_CONFIG, result.output
    assert "error: invalid settings" in result.output
    name = next(iter(env)).removeprefix("CRYPTOPIPE_").removeprefix("LOADTEST_").lower()
    assert name in result.output, "the message names the setting"
    assert not any(tmp_path.iterdir()), "nothing was started or written"


class Example(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRYPTOPIPE_TEST_", extra="ignore")
    count: int = 1
    names: list[str] = []


def test_given_options_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTOPIPE_TEST_COUNT", "5")
    assert build_settings(Example).count == 5
    assert build_settings(Example, count=None).count == 5, "None means not given"
    assert build_settings(Example, count=7).count == 7
    assert given({"a": None, "b": 0, "c": False}) == {"b": 0, "c": False}


def test_an_unparsable_complex_variable_is_a_settings_error_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CRYPTOPIPE_TEST_NAMES", "[not json")
    with pytest.raises(SystemExit) as exit_info:
        build_settings(Example)
    assert exit_info.value.code == EXIT_CONFIG
    assert "error: invalid settings" in capsys.readouterr().err
