"""`cryptopipe run` takes its options from CRYPTOPIPE_* settings, like every other command.

What is checked is the command line the run gives the producer it starts, so the stack is a
stand-in that records it: bringing real servers up would add nothing to what is asserted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cryptopipe.runner import cli


class ProducerStartedError(Exception):
    """Raised by the stand-in once the producer is started: the run has decided its command."""


class RecordingStack:
    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.started: dict[str, list[str]] = {}
        stacks.append(self)

    def up(self, progress: Any = None) -> list[Any]:
        return []

    def process(self, name: str) -> RecordingProcess:
        return RecordingProcess(self, name)


class RecordingProcess:
    def __init__(self, stack: RecordingStack, name: str) -> None:
        self.stack, self.name = stack, name
        self.log_file = Path("/nonexistent") / f"{name}.log"

    def is_running(self) -> bool:
        return False

    def start(self, argv: list[str], env: dict[str, str]) -> None:
        self.stack.started[self.name] = argv
        raise ProducerStartedError


stacks: list[RecordingStack] = []


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    stacks.clear()
    monkeypatch.setattr(cli, "Stack", RecordingStack)

    def run(args: list[str], **env: str) -> Result:
        return CliRunner().invoke(cli.run, args, env={"CRYPTOPIPE_STATE_DIR": str(tmp_path), **env})

    return run


def producer_argv(result: Result) -> list[str]:
    assert isinstance(result.exception, ProducerStartedError), result.output
    return stacks[-1].started["producer"]


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_the_producer_runs_at_the_rate_and_symbols_of_the_environment(invoke: Any) -> None:
    argv = producer_argv(invoke([], CRYPTOPIPE_RATE="2000", CRYPTOPIPE_SYMBOLS="btcusdt,dogeusdt"))
    assert float(flag(argv, "--rate")) == 2000.0
    assert flag(argv, "--symbols") == "btcusdt,dogeusdt"
    assert flag(argv, "--source") == "synthetic"


def test_options_win_over_the_environment(invoke: Any) -> None:
    argv = producer_argv(invoke(["--rate", "300"], CRYPTOPIPE_RATE="2000"))
    assert float(flag(argv, "--rate")) == 300.0


def test_the_defaults_are_unchanged(invoke: Any) -> None:
    result = invoke([])
    argv = producer_argv(result)
    assert float(flag(argv, "--rate")) == 500.0
    assert "--symbols" not in argv
    s = stacks[-1].settings
    assert (s.run_duration_s, s.run_interval_s, s.run_drain_s, s.run_down) == (0, 2, 90, False)


def test_the_run_timings_come_from_the_environment_too(invoke: Any) -> None:
    producer_argv(
        invoke(
            ["--down"],
            CRYPTOPIPE_RUN_DURATION_S="45",
            CRYPTOPIPE_RUN_INTERVAL_S="0.5",
            CRYPTOPIPE_RUN_DRAIN_S="10",
        )
    )
    s = stacks[-1].settings
    assert (s.run_duration_s, s.run_interval_s, s.run_drain_s, s.run_down) == (45, 0.5, 10, True)


@pytest.mark.parametrize(
    ("args", "env"),
    [([], {"CRYPTOPIPE_RATE": "-5"}), (["--interval", "0"], {}), ([], {"CRYPTOPIPE_RATE": "x"})],
)
def test_bad_settings_exit_2_with_a_clear_message_before_anything_starts(
    invoke: Any, args: list[str], env: dict[str, str]
) -> None:
    result = invoke(args, **env)
    assert result.exit_code == 2, result.output
    assert "error: invalid settings" in result.output
    assert not stacks, "nothing was brought up"
