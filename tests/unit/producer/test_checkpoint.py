"""The trade-id checkpoint: what a restarted producer resumes from."""

from __future__ import annotations

from pathlib import Path

from cryptopipe.producer.sequence import Gap, SequenceTracker, Verdict
from cryptopipe.producer.sources.binance import checkpoint


def test_save_and_load_round_trip_keeps_last_ids_and_open_gaps(tmp_path: Path) -> None:
    tracker = SequenceTracker()
    tracker.observe("BTCUSDT", 10)
    tracker.observe("BTCUSDT", 20)  # gap 11..19
    tracker.observe("ETHUSDT", 5)
    tracker.observe("SOLUSDT", 1)
    path = checkpoint.checkpoint_path(tmp_path, "crypto.trades")
    assert path == tmp_path / "producer" / "sequence.crypto.trades.json"
    checkpoint.save(path, tracker)

    resumed = SequenceTracker()
    assert checkpoint.load(path, resumed, frozenset({"BTCUSDT", "ETHUSDT"})) == 2
    assert resumed.last_id("BTCUSDT") == 20
    assert resumed.missing("BTCUSDT") == [(11, 19)]
    assert resumed.last_id("SOLUSDT") is None  # not configured any more
    # after the restart: what was produced is a duplicate, what came since is a gap
    assert resumed.observe("ETHUSDT", 5) == (Verdict.DUPLICATE, None)
    assert resumed.observe("ETHUSDT", 9) == (Verdict.PRODUCE, Gap("ETHUSDT", 6, 8))


def test_missing_or_corrupt_checkpoint_starts_fresh(tmp_path: Path) -> None:
    path = tmp_path / "producer" / "sequence.x.json"
    assert checkpoint.load(path, SequenceTracker(), frozenset({"BTCUSDT"})) == 0
    path.parent.mkdir(parents=True)
    for content in (
        b"{not json",
        b"[]",
        b'{"version": 1, "symbols": {"BTCUSDT": {"last_id": "7"}}}',
    ):
        path.write_bytes(content)
        tracker = SequenceTracker()
        assert checkpoint.load(path, tracker, frozenset({"BTCUSDT"})) == 0
        assert tracker.last_id("BTCUSDT") is None
