"""The read-only MySQL user (Grafana's MySQL datasource, `cryptopipe report`): SELECT on the
market tables, nothing else; its password lives in secrets/ like the app user's, never in logs."""

from __future__ import annotations

import stat

import pymysql
import pytest

from cryptopipe.db.accounts import READER_TABLES
from cryptopipe.stack import mariadb
from tests.conftest import RunningStack

DENIED = (1142, 1044)  # table / database access denied


def test_reader_can_select_the_market_tables(stack: RunningStack) -> None:
    conn = mariadb.reader_connection(stack.settings)
    try:
        with conn.cursor() as cur:
            for table in READER_TABLES:
                cur.execute(f"SELECT COUNT(*) FROM {table}")
                assert cur.fetchone() is not None
    finally:
        conn.close()


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO candles (symbol, bar_interval, window_start) VALUES ('X', '1m', NOW())",
        "UPDATE candles SET trade_count = 0",
        "DELETE FROM candles",
        "SELECT COUNT(*) FROM processor_batches",
        "CREATE TABLE reader_was_here (id INT)",
    ],
)
def test_reader_cannot_write_or_read_other_tables(stack: RunningStack, sql: str) -> None:
    conn = mariadb.reader_connection(stack.settings)
    try:
        with conn.cursor() as cur, pytest.raises(pymysql.err.OperationalError) as err:
            cur.execute(sql)
        assert err.value.args[0] in DENIED, err.value
    finally:
        conn.close()


def test_reader_password_is_a_private_secret_and_not_logged(stack: RunningStack) -> None:
    path = stack.settings.secrets_dir / "mysql-reader.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = mariadb.reader_secret(stack.settings)["password"]
    assert password and password != stack.settings.mysql_app_password()
    for log in stack.settings.logs_dir.glob("*.log"):
        assert password not in log.read_text(errors="replace"), log
