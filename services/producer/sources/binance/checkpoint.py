"""Persist the per-symbol trade-id state so a restarted producer backfills what it missed.

The file lives under the state dir, one per trades topic (the state describes what is on that
topic). It is written only when the Kafka client has nothing pending, so every id it covers
is acknowledged by Kafka; a clean stop (SIGTERM) writes it after the final flush. After a
crash (kill -9) the file may be up to ``checkpoint_interval_s`` old: the trades produced since
are then produced again after the restart (at-least-once across a crash; the processor
deduplicates by trade id).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import orjson

from cryptopipe.producer.sequence import SequenceTracker, Snapshot

logger = logging.getLogger(__name__)

VERSION = 1


def checkpoint_path(state_dir: Path, topic: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in topic)
    return state_dir / "producer" / f"sequence.{safe}.json"


def save(path: Path, tracker: SequenceTracker) -> None:
    """Atomic write (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps({"version": VERSION, "symbols": tracker.snapshot()}))
    os.replace(tmp, path)


def load(path: Path, tracker: SequenceTracker, symbols: frozenset[str]) -> int:
    """Restore the tracker from ``path`` if it exists; returns the number of symbols restored."""
    if not path.exists():
        return 0
    try:
        data = orjson.loads(path.read_bytes())
        entries: Snapshot = data["symbols"] if data.get("version") == VERSION else {}
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        logger.warning("ignoring unreadable sequence checkpoint %s: %s", path, exc)
        return 0
    return tracker.restore(entries, symbols)
