"""Migration files and the prerequisite check (pure parts)."""

from __future__ import annotations

import pytest

from cryptopipe.db.migrate import Migration, load_migrations
from cryptopipe.stack import prereqs


def test_migrations_are_numbered_without_gaps() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "candles"


def test_statements_split_and_comments_dropped() -> None:
    mig = Migration(
        1, "x", "-- a comment; with a semicolon\nCREATE TABLE a (x INT);\n\nDROP TABLE b;"
    )
    assert mig.statements() == ["CREATE TABLE a (x INT)", "DROP TABLE b"]


def test_missing_programs_name_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cryptopipe.stack.prereqs.shutil.which", lambda *_a, **_k: None)
    with pytest.raises(prereqs.MissingPrerequisiteError) as err:
        prereqs.require()
    message = str(err.value)
    assert "mariadbd" in message
    assert "sudo apt-get update && sudo apt-get install -y" in message
    assert "mariadb-server" in message
    assert "prometheus-alertmanager" in message
