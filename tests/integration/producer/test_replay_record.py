"""--source replay end to end into the real broker, and --record on the binance source."""

from __future__ import annotations

import gzip
import itertools
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from cryptopipe.exchange import BinanceEmulator
from cryptopipe.producer.app import run
from cryptopipe.producer.metrics import ProducerMetrics
from cryptopipe.producer.normalize import normalize_frame
from cryptopipe.producer.sources.replay import read_frames
from cryptopipe.producer.stopper import Stopper
from cryptopipe.producer.synthetic import SyntheticConfig, SyntheticMarket
from cryptopipe.producer.trade import Trade
from tests.integration.producer.conftest import Topics
from tests.integration.producer.harness import assert_exactly_once, producer_thread

pytestmark = pytest.mark.kafka

NOW_MS = int(time.time() * 1000)


def write_recording(path: Path, frames: list[bytes]) -> None:
    data = b"".join(f + b"\n" for f in frames)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def test_replay_gzipped_raw_and_combined_frames(
    settings_factory: Any, topics: Topics, tmp_path: Path
) -> None:
    start_us = (NOW_MS - 60_000) * 1000
    raw_frames = [
        e.payload
        for e in itertools.islice(
            SyntheticMarket(SyntheticConfig(("BTCUSDT",), seed=1, start_time_us=start_us)), 300
        )
    ]
    combined = [
        e.payload
        for e in itertools.islice(
            SyntheticMarket(
                SyntheticConfig(("ETHUSDT",), seed=2, start_time_us=start_us, combined=True)
            ),
            200,
        )
    ]
    frames = [*raw_frames, b"not a trade", *combined, raw_frames[5]]  # + a replayed duplicate
    path = tmp_path / "frames.jsonl.gz"
    write_recording(path, frames)

    settings = settings_factory(source="replay", replay_file=path, symbols="btcusdt,ethusdt")
    result = run(settings, Stopper(), ProducerMetrics(), serve_metrics=False)

    assert result.frames == 502
    assert result.accepted == result.delivered == 500
    assert result.duplicates == 1
    assert_exactly_once(topics, {"BTCUSDT": list(range(1, 301)), "ETHUSDT": list(range(1, 201))})
    dlq = topics.read(topics.dlq, expect=1)
    assert dlq[0].value == b"not a trade"
    assert dlq[0].headers["dlq.reason"] == "not_json"
    assert dlq[0].headers["dlq.source"] == "producer:replay"


def test_replay_speed_one_follows_event_time(
    settings_factory: Any, topics: Topics, tmp_path: Path
) -> None:
    frames = [
        orjson.dumps(
            {
                "e": "trade",
                "E": NOW_MS + i * 100,
                "s": "BTCUSDT",
                "t": i,
                "p": "1",
                "q": "1",
                "T": NOW_MS + i * 100,
                "m": True,
            }
        )
        for i in range(11)
    ]  # spans 1.0 s of event time
    path = tmp_path / "frames.jsonl"
    write_recording(path, frames)
    started = time.monotonic()
    result = run(
        settings_factory(source="replay", replay_file=path, replay_speed=1.0, symbols="btcusdt"),
        Stopper(),
        ProducerMetrics(),
        serve_metrics=False,
    )
    assert time.monotonic() - started >= 0.95
    assert result.delivered == 11


def test_record_writes_the_raw_frames_that_replay_reads_back(
    settings_factory: Any, topics: Topics, tmp_path: Path
) -> None:
    record = tmp_path / "rec" / "binance.jsonl.gz"
    with BinanceEmulator(["BTCUSDT"]) as emu:
        settings = settings_factory(
            source="binance",
            symbols="btcusdt",
            binance_ws_url=emu.ws_url,
            binance_rest_url=emu.rest_url,
            record_file=record,
        )
        with producer_thread(settings) as producer:
            emu.wait_until(lambda: emu.open_connections() == 1)
            ids = emu.publish("BTCUSDT", 25)
            producer.wait_for(lambda: producer.accepted("BTCUSDT") >= 25)
    frames = list(read_frames(record))
    assert len(frames) == 25
    assert frames[0].startswith(b'{"stream":"btcusdt@trade","data":')
    trades = [
        normalize_frame(f, symbols=None, ingest_time_us=time.time_ns() // 1000) for f in frames
    ]
    assert [t.trade_id for t in trades if isinstance(t, Trade)] == ids
    assert_exactly_once(topics, {"BTCUSDT": ids})
