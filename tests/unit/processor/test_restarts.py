"""Which query failures the processor restarts from its checkpoint, and how fast."""

from __future__ import annotations

import pytest

from cryptopipe.processor.restarts import HEALTHY_RUN_S, next_delay_s, transient

KAFKA_TIMEOUT = (
    "[FOREACH_BATCH_USER_FUNCTION_ERROR] An error occurred in the user provided function ...\n"
    "Caused by: org.apache.kafka.common.errors.TimeoutException: Timeout of 60000ms expired "
    "before the position for partition crypto.trades-3 could be determined"
)


@pytest.mark.parametrize(
    ("failure", "restart"),
    [
        (KAFKA_TIMEOUT, True),
        ("org.apache.kafka.common.errors.NotLeaderOrFollowerException: ...", True),
        ("RuntimeError: MySQL still failing after retrying for 120s", False),
        ("AnalysisException: [UNRESOLVED_COLUMN] ...", False),
        ("", False),
    ],
)
def test_only_kafka_client_failures_are_restarted(failure: str, restart: bool) -> None:
    assert transient(failure) is restart


def test_restarts_back_off_up_to_the_setting_and_start_over_after_a_healthy_run() -> None:
    delays = []
    delay = None
    for _ in range(8):
        delay = next_delay_s(delay, ran_s=5.0, max_s=30.0)
        delays.append(delay)
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert next_delay_s(30.0, ran_s=HEALTHY_RUN_S, max_s=30.0) == 1.0
    assert next_delay_s(None, ran_s=0.0, max_s=0.5) == 0.5
