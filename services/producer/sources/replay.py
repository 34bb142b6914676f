"""``--source replay``: recorded raw frames (JSON lines, optionally gzipped) at a speed factor.

A line is one frame exactly as Binance sent it (raw ``@trade`` payload or combined wrapper), so a
file written by ``--record`` replays through the very same normalizer as live data. Pacing uses
the frames' event times (``E``, else ``T``): speed 1 = real time, N = N times faster, 0 = no pauses.
"""

from __future__ import annotations

import gzip
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

from cryptopipe.producer.kafka_sink import KafkaSink
from cryptopipe.producer.normalize import Rejection, decode_frame
from cryptopipe.producer.pipeline import Pipeline
from cryptopipe.producer.settings import ProducerSettings
from cryptopipe.producer.stopper import Stopper

logger = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"


def open_frames(path: Path) -> IO[bytes]:
    """Open a frames file, gunzipping if it is gzip (by content, not by name)."""
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == GZIP_MAGIC:
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def read_frames(path: Path) -> Iterator[bytes]:
    """Each non-blank line, without its line ending."""
    with open_frames(path) as stream:
        for line in stream:
            frame = line.rstrip(b"\r\n")
            if frame.strip():
                yield frame


def _event_time_ms(payload: object) -> float | None:
    if not isinstance(payload, dict):
        return None
    value = payload.get("E", payload.get("T"))
    if type(value) is not int:
        return None
    return value / 1000 if value >= 10**14 else float(value)  # µs feed -> ms


def run_replay(
    settings: ProducerSettings, pipeline: Pipeline, sink: KafkaSink, stopper: Stopper
) -> int:
    path = settings.replay_file
    assert path is not None  # checked by the settings
    speed = settings.replay_speed
    limit = settings.count
    logger.info("replaying %s at %s", path, f"{speed}x" if speed else "full speed")
    first_ms: float | None = None
    started = time.monotonic()
    n = 0
    for raw in read_frames(path):
        if limit is not None and n >= limit:
            break
        if n % 256 == 0 and stopper.stopped:
            break
        n += 1
        pipeline.count_frame()
        payload = decode_frame(raw, pipeline.max_frame_bytes)
        if isinstance(payload, Rejection):
            pipeline.reject(raw, payload)
            continue
        if speed > 0:
            event_ms = _event_time_ms(payload)
            if event_ms is not None:
                if first_ms is None:
                    first_ms = event_ms
                ahead = (event_ms - first_ms) / 1000 / speed - (time.monotonic() - started)
                if ahead > 0.001 and stopper.wait(ahead):
                    break
        pipeline.handle_payload(payload, raw)
    sink.poll(0)
    logger.info("replay done: %d frames", n)
    return n
