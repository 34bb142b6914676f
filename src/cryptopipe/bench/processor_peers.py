"""The Python peers of `cryptopipe bench processor`: scripts of cryptopipe/bench/peers/ run as
subprocesses (Quix Streams in the peers' virtualenv), each into its own table."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptopipe.bench import peers_env
from cryptopipe.bench.model import Figure, SystemResult
from cryptopipe.bench.peers import candle_sink
from cryptopipe.bench.processor_common import (
    DATABASE,
    KAFKA_PEER,
    KAFKA_TABLE,
    QUIX_PEER,
    QUIX_TABLE,
    Backlog,
    Progress,
    failed,
    judged,
    stored_rows,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PeerRun:
    """What a peer script printed: its JSON result line, and its last stderr lines."""

    result: dict[str, Any] | None
    returncode: int
    stderr_tail: str


def parse_peer_output(stdout: str) -> dict[str, Any] | None:
    """The peer's result: the last line of stdout that is a JSON object with ``seconds``."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("seconds"), int | float):
            return value
    return None


def progress_count(line: str) -> int | None:
    """``progress <n>`` from a peer's stderr line, else None."""
    if not line.startswith(candle_sink.PROGRESS_PREFIX):
        return None
    text = line[len(candle_sink.PROGRESS_PREFIX) :].strip()
    return int(text) if text.isdigit() else None


def _run_peer(
    argv: list[str], env: dict[str, str], timeout_s: float, progress: Progress
) -> PeerRun:
    """Run a peer script; relay its progress; kill it (by its pid) past ``timeout_s``."""
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    tail: list[str] = []

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            count = progress_count(line)
            if count is not None:
                progress(count)
            else:
                tail.append(line.rstrip())
                del tail[:-20]

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        stdout, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=30)
        reader.join(5)
        raise RuntimeError(f"did not finish in {timeout_s:.0f}s: {' | '.join(tail[-3:])}") from None
    reader.join(5)
    return PeerRun(parse_peer_output(stdout), proc.returncode, "\n".join(tail[-5:]))


def _peer_args(b: Backlog, table: str, group: str) -> candle_sink.PeerArgs:
    return candle_sink.PeerArgs(
        bootstrap=b.ctx.settings.bootstrap_servers(),
        topic=b.topic,
        group=group,
        table=table,
        mysql_host=b.db.mysql_host,
        mysql_port=b.db.mysql_port,
        mysql_database=DATABASE,
        mysql_user=b.db.mysql_user,
    )


def _run_script_peer(
    b: Backlog, system: str, python: Path, script: Path, table: str, group: str
) -> SystemResult:
    env = {**os.environ, candle_sink.PASSWORD_ENV: b.db.mysql_app_password()}
    env.pop("PYTHONPATH", None)  # the peers' virtualenv keeps to its own packages
    argv = [str(python), str(script), *_peer_args(b, table, group).argv()]
    b.ctx.progress(f"{system}: consuming {b.trades:,} trades ...")
    run = _run_peer(argv, env, b.wait_s(), Progress(b.ctx, system, b.trades))
    if run.returncode != 0 or run.result is None:
        why = run.stderr_tail or "no output"
        return failed(system, f"exited {run.returncode}: {why}")
    r = run.result
    if int(r.get("trades", 0)) != b.trades:
        return failed(system, f"consumed {r.get('trades')} of {b.trades:,} trades")
    figures = []
    if r.get("first_commit_s") is not None:
        figures.append(Figure("time to first commit (client start)", r["first_commit_s"], "s"))
    notes = ["timed inside the script: from building its Kafka client to its last commit"]
    seconds = float(r["seconds"])
    return judged(b, system, seconds, stored_rows(b.db, table), figures=figures, notes=notes)


def run_kafka_peer(b: Backlog) -> SystemResult:
    script = peers_env.script("kafka_candles.py")
    group = f"bench-kafka-{b.ctx.run_id}"
    b.groups.append(group)
    return _run_script_peer(b, KAFKA_PEER, Path(sys.executable), script, KAFKA_TABLE, group)


def run_quix_peer(b: Backlog) -> SystemResult:
    try:
        python = peers_env.ensure(b.ctx.settings.cache_dir)
    except peers_env.PeersEnvError as exc:
        return failed(QUIX_PEER, str(exc))
    group = f"bench-quix-{b.ctx.run_id}"
    b.groups.append(group)
    script = peers_env.script("quix_candles.py")
    return _run_script_peer(b, QUIX_PEER, python, script, QUIX_TABLE, group)
