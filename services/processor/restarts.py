"""When a failed streaming query is restarted from its checkpoint, and after how long (pure).

A Kafka cluster that loses its quorum (or a partition's leader) for longer than the Kafka
client's api timeout (60 s) fails the batch's task, and so the query. That failure is
transient: the query restarted from its checkpoint redoes the batch once the brokers are back,
and the batch ledger makes the redo change nothing (exactly once, as after kill -9). Any other
failure (a bug, bad settings, MySQL retries exhausted) still stops the service.
"""

from __future__ import annotations

# the Kafka client's own errors (org.apache.kafka.common.errors.TimeoutException,
# NotLeaderOrFollowerException, DisconnectException ...) as Spark's exception text names them
TRANSIENT_MARKERS = ("org.apache.kafka.common.errors.",)
FIRST_DELAY_S = 1.0
HEALTHY_RUN_S = 300.0  # a query that ran this long before failing starts the backoff afresh


def transient(failure: str) -> bool:
    """A query failure the query recovers from by being restarted from its checkpoint."""
    return any(marker in failure for marker in TRANSIENT_MARKERS)


def next_delay_s(previous_s: float | None, ran_s: float, max_s: float) -> float:
    """The wait before the next restart: doubling from 1 s up to ``max_s``, from 1 s again
    after a query that had run for HEALTHY_RUN_S."""
    if previous_s is None or ran_s >= HEALTHY_RUN_S:
        return min(FIRST_DELAY_S, max_s)
    return min(previous_s * 2, max_s)
