"""Load shapes and durations: pure logic, no Locust (its import would patch pytest with gevent)."""

from __future__ import annotations

import sys

import pytest

from cryptopipe.loadtest.shapes import (
    Health,
    Spike,
    Steady,
    Step,
    build_shape,
    parse_duration,
    users_for,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("1h30m", 5400),
        ("2m10s", 130),
        ("90", 90),
        ("1.5", 1.5),
        (" 10S ", 10),
        (45, 45),
        (2.5, 2.5),
    ],
)
def test_durations_are_written_as_locust_writes_them(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "10x", "-5", "0", "0s", "1d", "5m1h", "nan", "inf"])
def test_nonsense_durations_are_refused_with_a_clear_error(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def ticks(shape: object, times: list[float], health: Health | None = None) -> list[float | None]:
    h = health or Health()
    return [shape.rate(t, h) for t in times]  # type: ignore[attr-defined]


def test_steady_holds_its_rate_then_ends() -> None:
    assert ticks(Steady(500, 3), [0, 1, 2, 2.9, 3, 4]) == [500, 500, 500, 500, None, None]


def test_spike_is_the_multiple_for_its_minute_then_back_to_base() -> None:
    shape = Spike(100, 150, multiplier=40, before_s=30, spike_s=60)
    rates = ticks(shape, [0, 29, 30, 89, 90, 149, 150])
    assert rates == [100, 100, 4000, 4000, 100, 100, None]
    assert shape.spike_end_s == 90


def test_spike_without_time_to_recover_is_refused() -> None:
    with pytest.raises(ValueError, match="recovery"):
        Spike(100, 90, before_s=30, spike_s=60)


def healthy(rate: float) -> Health:
    return Health(lag=10, e2e_worst_s=0.8, sent_rate=rate)


def run_steps(shape: Step, bad_from: float, step_s: int = 10) -> list[float | None]:
    """Tick once a second; from rate ``bad_from`` on the lag grows without end."""
    rates: list[float | None] = []
    for t in range(100 * step_s):
        current = shape.step_rate(max(0, shape._index))
        lag = 10.0 if current < bad_from else current * 10 * (t % step_s)
        rate = shape.rate(float(t), Health(lag=lag, e2e_worst_s=0.5, sent_rate=current))
        rates.append(rate)
        if rate is None:
            break
    return rates


def test_step_reports_the_last_rate_held_before_the_lag_grew() -> None:
    shape = Step(1000, 10_000, step_s=10, factor=2)
    rates = run_steps(shape, bad_from=8000)
    assert rates[:10] == [1000] * 10 and rates[10:20] == [2000] * 10
    assert rates[-1] is None and 8000 in rates and 16000 not in rates
    assert shape.capacity == 4000
    assert [r.held for r in shape.results] == [True, True, True, False]
    assert "lag" in shape.results[-1].why and shape.limited_by == "pipeline"


def test_step_stops_on_a_sample_slower_than_the_slo_or_lost() -> None:
    shape = Step(1000, 10_000, step_s=4, factor=2)
    for t in range(4):
        assert shape.rate(t, healthy(1000)) == 1000
    assert shape.rate(4, healthy(2000)) == 2000
    assert shape.rate(5, healthy(2000)) == 2000
    assert shape.rate(6, Health(lag=1, e2e_worst_s=7.5, sent_rate=2000)) == 2000
    shape.rate(7, healthy(2000))
    assert shape.rate(8, healthy(4000)) is None
    assert shape.capacity == 1000 and "7.5s" in shape.results[-1].why

    lost = Step(1000, 10_000, step_s=2, factor=2)
    assert [lost.rate(t, Health(e2e_failed=t == 1)) for t in range(3)] == [1000, 1000, None]
    assert lost.capacity is None and "never reached MySQL" in lost.results[0].why


def test_step_is_judged_once_settled_not_while_it_drains_the_previous_rate() -> None:
    # a slow sample in a step's first half (the processor's start-up in the first step, the
    # previous step's backlog in the others) is the transition, not this step's verdict
    shape = Step(1000, 10_000, step_s=4, factor=2)
    shape.rate(0, healthy(1000))
    shape.rate(1, Health(lag=1, e2e_worst_s=9.0, e2e_failed=1, sent_rate=1000))
    for t in (2, 3):
        shape.rate(t, healthy(1000))
    assert shape.rate(4, healthy(2000)) == 2000
    assert shape.results[0].held and shape.results[0].worst_e2e_s == 0.8


def test_step_blames_the_load_generator_when_it_cannot_send_the_rate() -> None:
    shape = Step(1000, 10_000, step_s=4, factor=2)
    for t in range(8):
        shape.rate(t, Health(lag=0, sent_rate=min(1500.0, shape.step_rate(t // 4))))
    assert shape.rate(8, Health()) is None
    assert shape.capacity == 1000 and shape.limited_by == "load generator"


def test_step_ends_at_its_duration_or_max_rate_with_the_plan_as_the_limit() -> None:
    shape = Step(1000, 25, step_s=10, factor=2)
    rates = [shape.rate(t, healthy(shape.step_rate(int(t // 10)))) for t in range(26)]
    assert rates[-1] is None and shape.capacity == 4000 and shape.limited_by == "plan"
    capped = Step(1000, 1000, step_s=2, factor=2, max_rate_per_s=2000)
    rates = [capped.rate(t, healthy(capped.step_rate(int(t // 2)))) for t in range(5)]
    assert rates == [1000, 1000, 2000, 2000, None] and capped.capacity == 2000


def test_build_shape_and_users() -> None:
    assert isinstance(build_shape("soak", 10, 3600), Steady)
    assert build_shape("spike", 10, 300).name == "spike"
    with pytest.raises(ValueError, match="rate"):
        build_shape("steady", 0, 10)
    assert [users_for(r, 1000) for r in (0, 1, 1000, 1001, 40_000)] == [0, 1, 1, 2, 40]


def test_this_package_never_imports_locust_into_its_callers() -> None:
    import cryptopipe.cli  # noqa: PLC0415
    import cryptopipe.loadtest.cli  # noqa: F401, PLC0415

    assert "locust" not in sys.modules and "gevent.monkey" not in sys.modules


@pytest.mark.parametrize(("lag", "held"), [(4_900, True), (5_100, False)])
def test_the_lag_bound_is_the_latency_slo_in_seconds_of_the_steps_trades(
    lag: float, held: bool
) -> None:
    shape = Step(1000, 10_000, step_s=4, factor=2, e2e_slo_s=5)
    for t in range(4):
        shape.rate(t, Health(lag=lag, e2e_worst_s=1.0, sent_rate=1000))
    assert (shape.rate(4, Health()) is not None) is held
    assert shape.results[0].held is held
