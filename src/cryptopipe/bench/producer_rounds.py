"""Rounds of a producer system: how many to run, what one measured, the summary figures."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cryptopipe.bench.context import Sizing
from cryptopipe.bench.model import Figure, Stage, SystemResult

MAX_WARMUP_TRADES = 100_000  # the broker's JIT warms up on these; not measured

STAGE: Stage = "producer"

# a peer's timed rounds stop once they took this long in all (ours always runs every round)
PEER_BUDGET_S = 120.0


CPU_MAIN = "cpu per trade, main thread"
CPU_CLIENT = "cpu per trade, client threads"
CPU_PROCESS = "cpu per trade, process"


US_PER_TRADE = "us/trade"


def warmup_trades(sizing: Sizing) -> int:
    """Ours' unmeasured warm-up round: a fifth of a round, at most 100,000 trades."""
    return max(1, min(MAX_WARMUP_TRADES, sizing.producer_trades // 5))


@dataclass(frozen=True, slots=True)
class Round:
    """One timed run of one system into a fresh topic."""

    trades: int
    seconds: float
    cpu_s: float | None  # the whole client process
    main_cpu_s: float | None  # its main (Python) thread; None for kcat
    failed: int  # failures the client reported
    on_topic: int  # messages on the round's topic afterwards (watermarks)

    @property
    def trades_per_s(self) -> float:
        return self.trades / self.seconds

    @property
    def correct(self) -> bool:
        return acknowledged_once(self.trades, self.on_topic, self.failed)


@dataclass
class _Clock:
    """Wall time, process CPU and this thread's CPU of a timed block."""

    seconds: float = 0.0
    cpu_s: float = 0.0
    main_cpu_s: float = 0.0

    def round(self, trades: int, failed: int, on_topic: int) -> Round:
        return Round(trades, self.seconds, self.cpu_s, self.main_cpu_s, failed, on_topic)


@contextmanager
def timed() -> Iterator[_Clock]:
    clock = _Clock()
    started, cpu_started, main_started = (
        time.perf_counter(),
        time.process_time(),
        time.thread_time(),
    )
    yield clock
    clock.seconds = time.perf_counter() - started
    clock.cpu_s = time.process_time() - cpu_started
    clock.main_cpu_s = time.thread_time() - main_started


def more_rounds(done: list[Round], total: int, budget_s: float | None) -> bool:
    """Whether to time another round: fewer than ``total`` so far and, with a budget, their
    seconds still within it (a slow peer gets one round, not an hour)."""
    if not done:
        return True
    if len(done) >= total:
        return False
    return budget_s is None or sum(r.seconds for r in done) < budget_s


def acknowledged_once(sent: int, on_topic: int, failed: int) -> bool:
    """Every trade acknowledged exactly once: no client failure, and the topic holds as many
    messages as were sent (none lost, none duplicated)."""
    return failed == 0 and on_topic == sent


def summarize(
    system: str, description: str, rounds: list[Round], notes: list[str], wanted: int = 1
) -> SystemResult:
    """The median round's throughput, the range, and CPU per trade, as a SystemResult
    (``wanted``: the rounds asked for; a note says when fewer ran)."""
    rates = [r.trades_per_s for r in rounds]
    median = statistics.median(rates)
    trades = rounds[0].trades
    figures = [
        Figure("median", median, "trades/s"),
        Figure("min", min(rates), "trades/s"),
        Figure("max", max(rates), "trades/s"),
        Figure("rounds", len(rounds), "rounds"),
    ]
    cpu = [r.cpu_s for r in rounds if r.cpu_s is not None]
    main = [r.main_cpu_s for r in rounds if r.main_cpu_s is not None]
    if cpu:
        figures.append(Figure(CPU_PROCESS, 1e6 * statistics.median(cpu) / trades, US_PER_TRADE))
    if cpu and len(main) == len(cpu):
        main_us = 1e6 * statistics.median(main) / trades
        client_us = 1e6 * statistics.median(c - m for c, m in zip(cpu, main, strict=True)) / trades
        figures += [
            Figure(CPU_MAIN, main_us, US_PER_TRADE),
            Figure(CPU_CLIENT, client_us, US_PER_TRADE),
        ]
    if len(rounds) < wanted:
        notes = [
            *notes,
            f"{len(rounds)} of {wanted} rounds: its rounds took "
            f"{sum(r.seconds for r in rounds):.0f} s, over a peer's {PEER_BUDGET_S:.0f} s budget",
        ]
    wrong = [i + 1 for i, r in enumerate(rounds) if not r.correct]
    if wrong:
        notes = [
            *notes,
            *(
                f"round {i}: {rounds[i - 1].trades:,} sent, {rounds[i - 1].on_topic:,} on the "
                f"topic, {rounds[i - 1].failed:,} failures reported"
                for i in wrong
            ),
        ]
    return SystemResult(
        stage=STAGE,
        system=system,
        description=description,
        trades=trades,
        seconds=trades / median,
        trades_per_s=median,
        correct=not wrong,
        figures=figures,
        notes=notes,
    )
