"""REST weight budget, sliding-window limits and backoff."""

from __future__ import annotations

import random

from cryptopipe.producer.sources.binance.ratelimit import (
    SlidingWindowLimiter,
    WeightBudget,
    backoff_delay,
)


def test_weight_budget_waits_for_the_next_minute_when_spent() -> None:
    budget = WeightBudget(limit=100)
    now = 6000.0  # start of a minute
    for _ in range(4):
        assert budget.delay(25, now) == 0
    wait = budget.delay(25, now + 10)
    assert 49.9 < wait < 50.2
    assert budget.delay(25, now + 60) == 0  # new minute


def test_server_reported_weight_counts() -> None:
    budget = WeightBudget(limit=100)
    budget.observe_used(90, 6000.0)
    assert budget.delay(25, 6001.0) > 0


def test_retry_after_blocks_every_request() -> None:
    budget = WeightBudget(limit=6000)
    budget.block(3.0, 100.0)
    assert budget.delay(1, 101.0) == 2.0
    assert budget.delay(1, 103.0) == 0


def test_sliding_window_allows_n_per_window() -> None:
    limiter = SlidingWindowLimiter(3, 300.0)
    assert [limiter.delay(t) for t in (0.0, 1.0, 2.0)] == [0, 0, 0]
    assert limiter.delay(3.0) == 297.0
    assert limiter.delay(300.5) == 0


def test_backoff_is_capped_and_jittered() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(a, 0.5, 30.0, rng) for a in range(12)]
    assert all(0 < d <= 30.0 for d in delays)
    assert delays[0] <= 0.5
    assert delays[-1] >= 15.0
    assert len(set(delays)) == len(delays)
