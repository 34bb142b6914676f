"""The live audit (`audit --watch`) leaves trades still in flight out of its verdict, so the
completeness page does not fire on a healthy pipeline with a live producer."""

from __future__ import annotations

import time
from pathlib import Path

from cryptopipe.audit.cli import settled
from cryptopipe.audit.settings import AuditSettings


def test_watch_audits_only_trades_older_than_the_settle_time(tmp_path: Path) -> None:
    settings = AuditSettings(state_dir=tmp_path, watch_settle_s=30)
    before = time.time()
    until_us = settled(settings).until_us()
    assert until_us is not None
    assert before - 30 - 1 <= until_us / 1e6 <= time.time() - 30


def test_an_explicit_until_or_no_settle_time_is_kept(tmp_path: Path) -> None:
    explicit = AuditSettings(state_dir=tmp_path, until="2026-01-01T00:00:00")
    assert settled(explicit) is explicit
    none = AuditSettings(state_dir=tmp_path, watch_settle_s=0)
    assert settled(none).until_us() is None
