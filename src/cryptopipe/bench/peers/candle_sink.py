"""What the Python candle peers share: their command line, their MySQL table, their output.

Standard library and PyMySQL only: the peers' own virtualenv imports this module too (Quix
Streams pins an older confluent-kafka than ours, see cryptopipe.bench.peers_env), so nothing of
cryptopipe beyond this file may be imported here.

A peer prints progress lines ``progress <trades done>`` on stderr while it runs and one JSON
object on stdout when it is done (``trades``, ``seconds``: from building its Kafka client to
its last candle committed, and ``first_commit_s``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pymysql

PASSWORD_ENV = "CRYPTOPIPE_BENCH_PEER_MYSQL_PASSWORD"  # never on the command line (ps shows it)
PROGRESS_PREFIX = "progress "
PROGRESS_EVERY_S = 3.0

COLUMNS = ("symbol", "window_start", "open", "high", "low", "close", "volume", "trade_count")

# The exact peers' table: one row per (symbol, 1 m window), prices and volumes as DECIMAL.
TABLE_DDL = """
CREATE TABLE `{table}` (
    symbol       VARCHAR(20)     NOT NULL,
    window_start DATETIME(6)     NOT NULL,
    open         DECIMAL(20, 8)  NOT NULL,
    high         DECIMAL(20, 8)  NOT NULL,
    low          DECIMAL(20, 8)  NOT NULL,
    close        DECIMAL(20, 8)  NOT NULL,
    volume       DECIMAL(38, 8)  NOT NULL,
    trade_count  BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (symbol, window_start)
) ENGINE = InnoDB
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DECIMALS = 8  # prices and quantities have at most 8 places (DECIMAL(20, 8))


def units(text: str) -> int:
    """An exact decimal text (``"65000.12"``) as an integer count of 1e-8: sums of these are
    exact and plain JSON (a stream processor's state store takes them as they are)."""
    whole, _, frac = text.partition(".")
    if len(frac) > DECIMALS or not (whole + frac).isdigit():
        raise ValueError(f"not a non-negative decimal with at most 8 places: {text!r}")
    return int(whole + frac.ljust(DECIMALS, "0"))


def from_units(count: int) -> Decimal:
    """The inverse of :func:`units`."""
    return Decimal(count).scaleb(-DECIMALS)


def upsert_sql(table: str) -> str:
    """Insert a window's candle, or replace it with the newer whole-window values."""
    updates = ", ".join(f"{c} = VALUES({c})" for c in COLUMNS[2:])
    marks = ", ".join(["%s"] * len(COLUMNS))
    return (
        f"INSERT INTO `{table}` ({', '.join(COLUMNS)}) VALUES ({marks}) "
        f"ON DUPLICATE KEY UPDATE {updates}"
    )


def window_start(start_us: int) -> datetime:
    """A window start as the naive UTC datetime a DATETIME(6) column takes."""
    return (_EPOCH + timedelta(microseconds=start_us)).replace(tzinfo=None)


Row = tuple[str, datetime, Decimal, Decimal, Decimal, Decimal, Decimal, int]


@dataclass(frozen=True, slots=True)
class PeerArgs:
    bootstrap: str
    topic: str
    group: str
    table: str
    mysql_host: str
    mysql_port: int
    mysql_database: str
    mysql_user: str

    def argv(self) -> list[str]:
        """The command line that :func:`parse_args` reads back."""
        out: list[str] = []
        for f in fields(self):
            out += [f"--{f.name.replace('_', '-')}", str(getattr(self, f.name))]
        return out


def parse_args(argv: Sequence[str] | None = None) -> PeerArgs:
    parser = argparse.ArgumentParser(description="1 m candles of a Kafka backlog into MySQL")
    for f in fields(PeerArgs):
        parser.add_argument(f"--{f.name.replace('_', '-')}", required=True)
    ns = parser.parse_args(argv)
    values = vars(ns)
    values["mysql_port"] = int(values["mysql_port"])
    return PeerArgs(**values)


def connect(args: PeerArgs) -> pymysql.connections.Connection[Any]:
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        raise SystemExit(f"set {PASSWORD_ENV} to the MySQL user's password")
    return pymysql.connect(
        host=args.mysql_host,
        port=args.mysql_port,
        user=args.mysql_user,
        password=password,
        database=args.mysql_database,
        autocommit=False,
        charset="utf8mb4",
        connect_timeout=10,
        read_timeout=60,
        write_timeout=60,
    )


def write_rows(conn: pymysql.connections.Connection[Any], table: str, rows: Iterable[Row]) -> int:
    """Upsert ``rows`` in one transaction; returns how many."""
    batch = list(rows)
    if batch:
        with conn.cursor() as cur:
            cur.executemany(upsert_sql(table), batch)
        conn.commit()
    return len(batch)


class Reporter:
    """Progress on stderr every few seconds, the result as one JSON line on stdout."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.first_commit_s: float | None = None
        self._last = 0.0

    def committed(self, done: int) -> None:
        now = time.monotonic()
        if self.first_commit_s is None:
            self.first_commit_s = now - self.started
        if now - self._last >= PROGRESS_EVERY_S:
            self._last = now
            print(f"{PROGRESS_PREFIX}{done}", file=sys.stderr, flush=True)

    def result(self, trades: int, **extra: Any) -> None:
        out = {
            "trades": trades,
            "seconds": time.monotonic() - self.started,
            "first_commit_s": self.first_commit_s,
            **extra,
        }
        print(json.dumps(out), flush=True)
