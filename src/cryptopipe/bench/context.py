"""What every stage of a run gets: the stack's settings, the sizing, the output dir, progress."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptopipe.bench.dataset import UNPACED, DataSpec
from cryptopipe.stack.kafka import admin_client
from cryptopipe.stack.settings import StackSettings

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Sizing:
    """How big each stage is: ``--quick`` (about two minutes in all) or a full run."""

    producer_trades: int
    producer_rounds: int
    processor_trades: int
    e2e_rates: tuple[float, ...]
    e2e_duration: str
    ceiling: bool
    ceiling_step: str

    @classmethod
    def for_run(cls, quick: bool) -> Sizing:
        if quick:
            return cls(
                producer_trades=50_000,
                producer_rounds=1,
                processor_trades=60_000,
                e2e_rates=(500.0, 5_000.0),
                e2e_duration="10s",
                ceiling=False,
                ceiling_step="10s",
            )
        return cls(
            producer_trades=1_000_000,
            producer_rounds=3,
            processor_trades=1_000_000,  # Quix Streams alone takes minutes over it
            e2e_rates=(500.0, 5_000.0, 50_000.0),
            e2e_duration="60s",
            ceiling=True,
            ceiling_step="60s",
        )


@dataclass(slots=True)
class BenchContext:
    settings: StackSettings
    sizing: Sizing
    out: Path
    progress: Progress
    seed: int = 7
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def data_spec(self, stage: str) -> DataSpec:
        """The trades every system of ``stage`` gets: same symbols, count and seed."""
        if stage == "producer":
            return DataSpec(count=self.sizing.producer_trades, seed=self.seed, rate=UNPACED)
        return DataSpec(count=self.sizing.processor_trades, seed=self.seed)

    def topic(self, stage: str, system: str) -> str:
        """A fresh topic name of this run for one system (created by ``create_topic``)."""
        safe = "".join(c if c.isalnum() else "-" for c in system.lower())
        return f"bench.{stage}.{safe}.{self.run_id}"

    def create_topic(self, name: str, partitions: int | None = None) -> str:
        """Create ``name`` on the stack's Kafka with crypto.trades' partition count; returns it."""
        from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]  # noqa: PLC0415

        s = self.settings
        count = partitions or s.topic_partitions
        with admin_client(s) as admin:
            futures = admin.create_topics(
                [NewTopic(name, num_partitions=count, replication_factor=min(3, s.brokers))]
            )
            for future in futures.values():
                future.result(60)
        logger.info("created topic %s (%d partitions)", name, count)
        return name

    def delete_topics(self, names: list[str]) -> None:
        """Drop the run's topics (best effort: a benchmark leaves no gigabytes behind)."""
        if not names:
            return
        with admin_client(self.settings) as admin:
            for topic, future in admin.delete_topics(names).items():
                try:
                    future.result(60)
                except Exception as exc:
                    logger.warning("could not delete topic %s: %s", topic, exc)
