"""The Kafka topics' end offsets, kept fresh by a background thread for the lag metric.

A scrape must answer at once whatever Kafka does, so it never asks Kafka: it reads what this
thread read last. The thread reads every partition's end offset each ``interval_s`` and right
after each query progress (so the lag taken against a batch's endOffset is never older than the
batch), with bounded timeouts (the reader's), backs off while it cannot read a single partition,
and stops (joined) when asked.

An end offset only ever grows: a partition that cannot be read (its leader is down, the cluster
is electing a new one) keeps its last known offset, never a lower or missing one, and the age of
the stalest partition is exported next to the lag.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

# topic -> {partition: end offset, or None when that partition could not be read}
EndOffsetsReader = Callable[[str], dict[int, int | None]]

READ_TIMEOUT_S = 2.0  # one Kafka call of a read (metadata, ListOffsets)
REFRESH_INTERVAL_S = 1.0
MAX_BACKOFF_S = 5.0  # one Prometheus scrape interval of the local stack: lag stays useful
STOP_JOIN_S = 4 * READ_TIMEOUT_S  # more than one round takes: its reader calls are bounded


@dataclass(slots=True)
class TopicEnds:
    """What is known of one topic's end offsets."""

    offsets: dict[int, int] = field(default_factory=dict)
    read_at: dict[int, float] = field(default_factory=dict)  # monotonic time of the last read
    partitions: set[int] = field(default_factory=set)  # every partition ever listed
    failing: bool = False  # the last round missed a partition or the whole topic
    failures: int = 0  # rounds that missed a partition or the whole topic


class EndOffsetsRefresher:
    """Reads ``topics``' end offsets in a background thread; a scrape reads :meth:`view`."""

    def __init__(
        self,
        topics: Iterable[str],
        reader: EndOffsetsReader,
        *,
        interval_s: float = REFRESH_INTERVAL_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reader = reader
        self._interval_s = interval_s
        self._max_backoff_s = max(max_backoff_s, interval_s)
        self._clock = clock
        self._started_at = clock()
        self._lock = threading.Lock()
        self._topics = {t: TopicEnds() for t in topics}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the thread ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("end-offsets refresher already started")
        self._thread = threading.Thread(target=self._loop, name="kafka-end-offsets", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = STOP_JOIN_S) -> bool:
        """Stop the thread and join it; False if it did not end within ``timeout_s``."""
        self._stop.set()
        self._wake.set()
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            logger.warning("Kafka end-offsets thread did not stop within %.0fs", timeout_s)
            return False
        return True

    def kick(self) -> None:
        """Read again soon (a progress arrived); a backoff after failures is not shortened."""
        self._wake.set()

    def _loop(self) -> None:
        failed_rounds = 0
        while not self._stop.is_set():
            if self.refresh():
                failed_rounds = 0
                self._wake.wait(self._interval_s)
            else:
                # nothing read at all: back off (a kick does not shorten it). A round that read
                # some partitions paces itself: its missing ones took the reader's timeout.
                failed_rounds += 1
                self._stop.wait(self.backoff_s(failed_rounds))
            self._wake.clear()

    def backoff_s(self, failed_rounds: int) -> float:
        """The wait after ``failed_rounds`` failed rounds in a row: doubling, capped."""
        return min(self._max_backoff_s, self._interval_s * 2.0 ** min(failed_rounds, 32))

    # -- one round -------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Read every topic once; False if not a single partition could be read (the caller
        backs off then). Partitions missed are counted and keep their last known offset."""
        any_read = False
        for topic in list(self._topics):
            asked_at = self._clock()  # an offset is as old as the request, not the answer
            try:
                read = self._reader(topic)
                problem = "" if read else "no partitions listed"
            except Exception as exc:  # the thread must survive whatever Kafka does
                read, problem = {}, str(exc) or type(exc).__name__
            self._record(topic, asked_at, read, problem)
            any_read = any_read or any(off is not None for off in read.values())
        return any_read

    def _record(
        self, topic: str, asked_at: float, read: dict[int, int | None], problem: str
    ) -> None:
        missed = sorted(p for p, off in read.items() if off is None)
        ok = not problem and not missed
        with self._lock:
            ends = self._topics[topic]
            ends.partitions.update(read)
            for p, off in read.items():
                if off is not None:
                    ends.offsets[p] = max(off, ends.offsets.get(p, off))
                    ends.read_at[p] = asked_at
            was_failing, ends.failing = ends.failing, not ok
            if not ok:
                ends.failures += 1
        if not ok and not was_failing:
            logger.warning(
                "Kafka end offsets of %s cannot be read (%s); lag uses the last known offsets "
                "(a lower bound) until they can be read again",
                topic,
                problem or f"partitions {missed}",
            )
        elif ok and was_failing:
            logger.info("Kafka end offsets of %s readable again on every partition", topic)

    # -- what a scrape reads ---------------------------------------------------------------
    def view(self, topic: str) -> tuple[dict[int, int], float, int] | None:
        """(end offsets, age in seconds of the stalest partition, failed rounds) of ``topic``.

        A partition never read counts from the refresher's start (so does the whole topic
        while none was ever listed): a reader that never worked shows as an ever older value,
        not as nothing."""
        now = self._clock()
        with self._lock:
            ends = self._topics.get(topic)
            if ends is None:
                return None
            stalest = min(
                (ends.read_at.get(p, self._started_at) for p in ends.partitions),
                default=self._started_at,
            )
            return dict(ends.offsets), max(0.0, now - stalest), ends.failures

    def topics(self) -> list[str]:
        return sorted(self._topics)
