"""Versioned schema migrations: ``db/migrations/NNNN_name.sql`` applied once each, in order.

Applied migrations are recorded in ``schema_migrations`` with a checksum; a migration that was
edited after it was applied is refused instead of being silently skipped. The stack applies them
with its admin account at ``stack up``; against a real MySQL run ``cryptopipe db migrate``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class Cursor(Protocol):
    def execute(self, query: str, args: Any = ...) -> Any: ...
    def fetchall(self) -> Any: ...


class Connection(Protocol):
    def cursor(self) -> Any: ...
    def commit(self) -> None: ...


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        """Split on ``;`` at line ends, dropping ``--`` comment lines (no procedures here)."""
        body = "\n".join(
            line for line in self.sql.splitlines() if not line.lstrip().startswith("--")
        )
        return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def load_migrations() -> list[Migration]:
    """All packaged migrations, ordered by version; gaps or duplicate versions are errors."""
    found: list[Migration] = []
    for entry in resources.files("cryptopipe.db.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, mig in enumerate(found, start=1):
        if mig.version != expected:
            raise MigrationError(f"migration versions must be 1..N without gaps, got {mig.version}")
    return found


CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INT          NOT NULL PRIMARY KEY,
    name       VARCHAR(200) NOT NULL,
    checksum   CHAR(64)     NOT NULL,
    applied_at DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE = InnoDB
"""


def apply_migrations(conn: Connection, migrations: list[Migration] | None = None) -> list[int]:
    """Apply what is not applied yet; return the versions applied now."""
    migrations = load_migrations() if migrations is None else migrations
    cur = conn.cursor()
    cur.execute(CREATE_LEDGER)
    cur.execute("SELECT version, checksum FROM schema_migrations")
    applied = {int(v): str(c) for v, c in cur.fetchall()}
    done: list[int] = []
    for mig in migrations:
        if mig.version in applied:
            if applied[mig.version] != mig.checksum:
                raise MigrationError(
                    f"migration {mig.version:04d}_{mig.name} changed after it was applied; "
                    "add a new migration instead of editing an applied one"
                )
            continue
        logger.info("applying migration %04d_%s", mig.version, mig.name)
        for statement in mig.statements():
            cur.execute(statement)
        cur.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
            (mig.version, mig.name, mig.checksum),
        )
        conn.commit()
        done.append(mig.version)
    return done
